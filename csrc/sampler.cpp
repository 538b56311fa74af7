#include "sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "interpreter_code.h"
#include "pyframes.h"
#include "signals.h"

namespace pyprof {

Sampler g_sampler;
static InterpreterCode g_interpreter_code;
static uintptr_t fault_pc(void* uc);

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// Linux encodes a thread's CPU clock as a clockid (see MAKE_THREAD_CPUCLOCK in the kernel's
// posix-timers.h): ~tid << 3 | CPUCLOCK_PERTHREAD_MASK (4) | CPUCLOCK_SCHED (2).
static clockid_t thread_cpu_clock(int32_t tid) { return clockid_t((~unsigned(tid) << 3) | 4 | 2); }

uint64_t thread_cpu_ns(int32_t tid) {
  timespec ts;
  if (clock_gettime(thread_cpu_clock(tid), &ts) != 0) return 0;
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

static uint32_t slot_hash(int32_t tid) { return (uint32_t(tid) * 2654435761u) % Sampler::kMaxThreads; }

Sampler::ThreadSlot* Sampler::find(int32_t tid) {
  uint32_t h = slot_hash(tid);
  for (int i = 0; i < kMaxThreads; ++i) {
    ThreadSlot& s = slots_[(h + i) % kMaxThreads];
    int32_t t = s.tid.load(std::memory_order_acquire);
    if (t == tid) return &s;
    if (t == 0) return nullptr;
  }
  return nullptr;
}

// Walk state of this thread's sample handler. Static TLS (initial-exec) so the fault handler can
// read it without a call that might allocate, and independent of the slot table, which
// disarm_all() clears while a handler may still be walking.
struct WalkGuard {
  sigjmp_buf* jmp;
  volatile sig_atomic_t walking;
};
static thread_local WalkGuard tls_walk __attribute__((tls_model("initial-exec")));

// How much of the handler runs: all of it (5) in every build except those that
// benchmarks/handler_stages.py makes to measure where a sample's cost goes, stage by stage:
// 0 return at once (the signal alone), 1 + the clocks and the thread's slot, 2 + a ring cell with
// the sample's header, 3 + the frame walk, 4 + the handler's own cost, 5 + the speed probe
// (docs/how-it-works.md).
#ifndef PYPROF_CARBON_HANDLER_STAGE
#define PYPROF_CARBON_HANDLER_STAGE 5
#endif
constexpr int kHandlerStage = PYPROF_CARBON_HANDLER_STAGE;

bool run_guarded(void (*fn)(void*), void* arg) {
  sigjmp_buf jmp;
  tls_walk.jmp = &jmp;
  bool ok = false;
  // No mask save: in a handler rt_sigreturn restores the mask anyway, and the fault handler is
  // SA_NODEFER with an empty sa_mask, so jumping out of it leaves this thread's mask as it was.
  if (sigsetjmp(jmp, 0) == 0) {
    tls_walk.walking = 1;
    fn(arg);
    ok = true;
  }
  tls_walk.walking = 0;
  return ok;
}

bool Sampler::cpu_since_last(int32_t tid, uint64_t cpu_now, uint64_t* delta) {
  ThreadSlot* slot = find(tid);
  if (slot == nullptr) return false;
  uint64_t last = slot->last_cpu_ns.load(std::memory_order_relaxed);
  *delta = cpu_now > last ? cpu_now - last : 0;
  slot->last_cpu_ns.store(cpu_now, std::memory_order_relaxed);
  return true;
}

static uint64_t thread_cpu_now() {
  timespec c;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
  return uint64_t(c.tv_sec) * 1000000000ull + uint64_t(c.tv_nsec);
}

void Sampler::on_signal(int, siginfo_t*, void* uc) {
  int saved_errno = errno;
  Sampler& s = g_sampler;
  // Counted before active_ is read (both seq_cst): either stop() sees this handler in flight and
  // waits, or this handler sees inactive and leaves without touching the ring.
  s.inflight_.fetch_add(1, std::memory_order_seq_cst);
  auto leave = [&] {
    s.inflight_.fetch_sub(1, std::memory_order_release);
    errno = saved_errno;
  };
  if (!s.active_.load(std::memory_order_seq_cst)) return leave();
  s.signals_.fetch_add(1, std::memory_order_relaxed);
  if constexpr (kHandlerStage == 0) return leave();
  uint64_t t0 = monotonic_ns();
  int32_t tid = int32_t(syscall(SYS_gettid));
  uint64_t cpu_now = thread_cpu_now();
  uint64_t q = 0;
  bool armed = s.cpu_since_last(tid, cpu_now, &q);
  if constexpr (kHandlerStage == 1) return leave();
  uint64_t ticket;
  Sample* smp = s.ring_->reserve(&ticket);
  if (smp == nullptr) {
    s.note_lost(q);
  } else {
    smp->t_ns = t0;
    smp->cpu_ns = q;
    smp->tid = tid;
    smp->cpu = int16_t(sched_getcpu());
    smp->depth = 0;
    smp->truncated = kWhole;
    smp->nvcsw = 0;
    PyThreadState* ts = PyGILState_GetThisThreadState();
    smp->in_native = ts != nullptr && !g_interpreter_code.contains(fault_pc(uc));
    if (ts == nullptr) {
      // A thread that never ran Python (a BLAS pool's): whether it slept since its previous sample
      // marks where its busy periods begin (native_threads.py). getrusage is one plain syscall.
      struct rusage ru;
      if (getrusage(RUSAGE_THREAD, &ru) == 0) smp->nvcsw = uint32_t(ru.ru_nvcsw);
    }
    if (kHandlerStage >= 3 && ts != nullptr && armed) {
      FrameWalk w{ts, smp->frames, 0, kWhole};
      if (!run_guarded(&FrameWalk::run, &w)) {
        w.depth = 0;
        w.mark = kBroken;
      }
      smp->depth = uint16_t(w.depth);
      smp->truncated = w.mark;
      if (w.mark == kBroken) s.note_unreadable();
    }
    s.ring_->commit(ticket);
  }
  if constexpr (kHandlerStage >= 4) {
    if (kHandlerStage >= 5 && armed) s.probe_.after(q);
    // The handler's cost is CPU time (this thread's clock), not wall time: a handler preempted on
    // a busy machine would otherwise count the time others ran as the profiler's.
    uint64_t cpu_end = thread_cpu_now();
    s.handler_ns_.fetch_add(cpu_end > cpu_now ? cpu_end - cpu_now : 0, std::memory_order_relaxed);
  }
  leave();
}

// What SIGSEGV/SIGBUS did before ours, for faults that are not the walk's. Written by the collector
// thread (install_guard) while a fault handler may read it: two copies, the index flips after the
// write, so a reader sees a whole sigaction.
static struct sigaction g_prev_fault[2][2];  // [copy][0 = SIGSEGV, 1 = SIGBUS]
static std::atomic<int> g_prev_copy{0};
static struct sigaction g_prev_sigio;

// Per thread, for faults handed to the previous handler: where the hand-over's frame is (a fault
// raised again from inside that handler is nested below it), and the last fault it returned from.
struct ForwardState {
  char* sp;
  uintptr_t pc, addr;
  uint32_t repeats;
  uint64_t first_ns;
};
static thread_local ForwardState tls_fwd __attribute__((tls_model("initial-exec")));

static void resend_to_self(int sig, siginfo_t* info) {
  // A sent signal (kill, tgkill, raise) does not come back by itself the way a fault does when
  // the faulting instruction runs again; send it once more, to this thread, with its siginfo.
  if (info != nullptr)
    syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), sig, info);
  else
    raise(sig);
}

static uintptr_t fault_pc(void* uc) {
#if defined(__x86_64__)
  return uc ? uintptr_t(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]) : 0;
#elif defined(__aarch64__)
  return uc ? uintptr_t(static_cast<ucontext_t*>(uc)->uc_mcontext.pc) : 0;
#else
  return 0;
#endif
}

void Sampler::on_fault(int sig, siginfo_t* info, void* uc) {
  // Ours only if the kernel raised it (si_code > 0) on this thread while its handler walks: async
  // signals are blocked in the sample handler, so no other handler runs on this thread meanwhile.
  if (tls_walk.walking && info != nullptr && info->si_code > 0) siglongjmp(*tls_walk.jmp, 1);
  int saved_errno = errno;
  const struct sigaction& prev = g_prev_fault[g_prev_copy.load(std::memory_order_acquire)][sig == SIGBUS];
  bool handler = (prev.sa_flags & SA_SIGINFO) ? prev.sa_sigaction != nullptr
                                              : (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN);
  char here;
  // Given back: faulthandler restores what it replaced (us) and raises again; a handler that
  // returns without repairing anything (faulthandler once disabled) has the same fault come
  // back at the same instruction, again and again, at once.
  // (A kernel fault is never taken as given back by the frame test: a handler that jumped out of
  // an earlier hand-over left tls_fwd.sp behind.)
  bool kernel = info != nullptr && info->si_code > 0;
  bool given_back = !kernel && tls_fwd.sp != nullptr && &here < tls_fwd.sp;
  if (handler && !given_back && kernel) {
    uintptr_t pc = fault_pc(uc), addr = uintptr_t(info->si_addr);
    uint64_t now = monotonic_ns();
    if (pc == tls_fwd.pc && addr == tls_fwd.addr && now - tls_fwd.first_ns < 100000000ull) {
      given_back = ++tls_fwd.repeats >= 64;
    } else {
      tls_fwd.pc = pc;
      tls_fwd.addr = addr;
      tls_fwd.repeats = 0;
      tls_fwd.first_ns = now;
    }
  }
  if (handler && !given_back) {
    // As the kernel would have called it (its sa_mask aside): SA_RESETHAND honoured.
    if (prev.sa_flags & SA_RESETHAND) signal(sig, SIG_DFL);
    char* outer = tls_fwd.sp;
    tls_fwd.sp = &here;
    if (prev.sa_flags & SA_SIGINFO)
      prev.sa_sigaction(sig, info, uc);
    else
      prev.sa_handler(sig);
    tls_fwd.sp = outer;  // not reached if it jumped out: then `here` is above the next one's frame
  } else {
    // The default action, as without us: a fault comes back when the instruction runs again.
    signal(sig, SIG_DFL);
    if (!kernel) resend_to_self(sig, info);
  }
  errno = saved_errno;
}

void Sampler::on_sigio(int sig, siginfo_t* info, void* uc) {
  int saved_errno = errno;
  Sampler& s = g_sampler;
  if (info != nullptr && info->si_code == SI_KERNEL) {
    // The kernel's fallback when a real-time signal could not be queued (or a program's O_ASYNC
    // fd without F_SETSIG: then it goes on to the program's handler too, below).
    s.sigio_.fetch_add(1, std::memory_order_relaxed);
  }
  const struct sigaction& prev = g_prev_sigio;
  if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, uc);
  } else if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  } else if (prev.sa_handler == SIG_DFL && (info == nullptr || info->si_code != SI_KERNEL)) {
    // Someone sent SIGIO on purpose (kill -IO): what it would have done without us.
    signal(SIGIO, SIG_DFL);
    resend_to_self(sig, info);
  }
  errno = saved_errno;
}

// fork(): the forking thread must not be interrupted in a loop while the kernel copies a large
// process (clone is restarted on every signal), so block our signal around it. The child has no
// collector and no timers (POSIX timers are not inherited; perf fds are, and would still point at
// the parent's threads): it closes the fds and stays inactive.
static sigset_t g_fork_saved_mask;
void Sampler::atfork_prepare() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, g_sampler.signo_);
  pthread_sigmask(SIG_BLOCK, &set, &g_fork_saved_mask);
}
void Sampler::atfork_parent() { pthread_sigmask(SIG_SETMASK, &g_fork_saved_mask, nullptr); }
void Sampler::atfork_child() {
  Sampler& s = g_sampler;
  s.forked_child_ = true;
  s.active_.store(false, std::memory_order_release);
  for (ThreadSlot& slot : s.slots_) {
    if (slot.tid.load() > 0 && slot.fd >= 0) close(slot.fd);
    slot.tid.store(0);
    slot.fd = -1;
    slot.has_timer = false;
  }
  pthread_sigmask(SIG_SETMASK, &g_fork_saved_mask, nullptr);
}

static bool is_handler(const struct sigaction& sa, void (*fn)(int, siginfo_t*, void*)) {
  return (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction == fn;
}

// Ours on SIGSEGV/SIGBUS, whatever is there now becoming the previous handler. `first`: at
// configure; later, from begin_scan when the program replaced ours (faulthandler.enable(), or
// faulthandler.disable() putting back SIG_DFL as pytest does at the end of its session).
void Sampler::install_guard(int sig, bool first) {
  struct sigaction cur;
  if (sigaction(sig, nullptr, &cur) != 0 || is_handler(cur, &Sampler::on_fault)) return;
  int next = 1 - g_prev_copy.load(std::memory_order_relaxed);
  g_prev_fault[next][sig == SIGBUS] = cur;
  g_prev_fault[next][sig != SIGBUS] = g_prev_fault[1 - next][sig != SIGBUS];
  g_prev_copy.store(next, std::memory_order_release);
  struct sigaction fa;
  memset(&fa, 0, sizeof fa);
  fa.sa_sigaction = &Sampler::on_fault;
  fa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&fa.sa_mask);
  sigaction(sig, &fa, nullptr);
  if (!first) ++guard_reinstalled_;
}

static void install_sigio_if_default() {
  struct sigaction cur;
  if (sigaction(SIGIO, nullptr, &cur) != 0) return;
  if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL) return;  // the program's, or ours
  g_prev_sigio = cur;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = &Sampler::on_sigio;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGIO, &sa, nullptr);
}

void Sampler::configure(Engine engine, uint64_t period_ns, SampleRing* ring) {
  g_interpreter_code.refresh();
  engine_ = engine;
  period_ns_ = period_ns < kMinPeriodNs ? kMinPeriodNs : period_ns;  // faster livelocks (sampler.h)
  ring_ = ring;
  lost_ = 0;
  lost_cpu_ns_ = 0;
  handler_ns_ = 0;
  probe_.reset();
  signals_ = 0;
  unreadable_ = 0;
  sigio_ = 0;
  sigio_seen_ = 0;
  fds_rearmed_ = 0;
  guard_reinstalled_ = 0;
  rate_halvings_ = 0;
  starved_.clear();
  struct sigaction cur;
  bool still_ours = installed_ && sigaction(signo_, nullptr, &cur) == 0 && is_handler(cur, &Sampler::on_signal);
  // The observer sends no signal: it takes none (a program without a free real-time signal can
  // still be observed), and only the fault guard and the fork hooks below are installed.
  if (engine == Engine::Observer) still_ours = true;
  if (!still_ours) {
    // First session, or the program took the signal of a previous one: a free one. The old one
    // keeps whatever the program put there.
    signo_ = choose_free_rt_signal();
    if (signo_ == 0) {
      starved_ = "no free real-time signal: every one of SIGRTMIN..SIGRTMAX has a handler, is ignored or is blocked";
    } else {
      struct sigaction sa;
      memset(&sa, 0, sizeof sa);
      sa.sa_sigaction = &Sampler::on_signal;
      sa.sa_flags = SA_SIGINFO | SA_RESTART;
      // Every asynchronous signal waits while the handler runs (~tens of µs): no other library's
      // handler can nest on ours and fault while we walk (its crash would look like ours).
      sigfillset(&sa.sa_mask);
      for (int fault : kFaultSignals) sigdelset(&sa.sa_mask, fault);
      sigaction(signo_, &sa, nullptr);
    }
  }
  install_guard(SIGSEGV, true);
  install_guard(SIGBUS, true);
  install_sigio_if_default();
  if (!installed_) pthread_atfork(&Sampler::atfork_prepare, &Sampler::atfork_parent, &Sampler::atfork_child);
  installed_ = true;
  rlimit rl;
  if (starved_.empty() && engine != Engine::Observer && getrlimit(RLIMIT_SIGPENDING, &rl) == 0 && rl.rlim_cur == 0)
    starved_ = "RLIMIT_SIGPENDING is 0 (ulimit -i 0): no real-time signal can be queued, so none was armed";
}

bool Sampler::deactivate_and_wait(uint64_t max_wait_ns) {
  active_.store(false, std::memory_order_seq_cst);
  uint64_t deadline = monotonic_ns() + max_wait_ns;
  while (inflight_.load(std::memory_order_seq_cst) != 0) {
    if (monotonic_ns() > deadline) return false;
    sched_yield();  // a handler in flight finishes in tens of µs unless its thread is preempted
  }
  return true;
}

void Sampler::starve(const std::string& why) {
  if (starved_.empty()) starved_ = why;
  disarm_all();
}

bool Sampler::fd_is_ours(const ThreadSlot& slot) const {
  uint64_t id = 0;
  return slot.fd >= 0 && ioctl(slot.fd, PERF_EVENT_IOC_ID, &id) == 0 && id == slot.perf_id;
}

void Sampler::begin_scan() {
  struct sigaction cur;
  if (starved_.empty() && engine_ != Engine::Observer && signo_ != 0 && sigaction(signo_, nullptr, &cur) == 0 && !is_handler(cur, &Sampler::on_signal)) {
    bool ignored = !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN;
    starve(std::string(ignored ? "ignored" : "replaced") + ": the program " +
           (ignored ? "set SIG_IGN on" : "installed its own handler on") + " signal " + std::to_string(signo_) +
           " (SIGRTMIN+" + std::to_string(signo_ - SIGRTMIN) + "), the profiler's: sampling stopped there");
  }
  install_guard(SIGSEGV, false);
  install_guard(SIGBUS, false);
  install_sigio_if_default();
  g_interpreter_code.refresh();  // an extension module imported since the last scan
  uint64_t n = sigio_.load(std::memory_order_relaxed);
  sigio_new_ = n != sigio_seen_;
  sigio_seen_ = n;
  blocked_found_ = false;
}

int Sampler::set_period(ThreadSlot& slot) {
  if (slot.fd >= 0) return ioctl(slot.fd, PERF_EVENT_IOC_PERIOD, &period_ns_);
  if (!slot.has_timer) return 0;
  itimerspec its;
  its.it_interval.tv_sec = time_t(period_ns_ / 1000000000ull);
  its.it_interval.tv_nsec = long(period_ns_ % 1000000000ull);
  its.it_value = its.it_interval;
  return timer_settime(slot.timer, 0, &its, nullptr);
}

void Sampler::end_scan() {
  if (!sigio_new_ || blocked_found_ || !starved_.empty()) return;
  // Overflow with no blocking thread to blame: the signals come faster than the process's
  // threads take them for the queue the limit allows. Half the rate, for the rest of the run.
  if (period_ns_ >= 1000000000ull) {
    starve("the real-time signal queue (RLIMIT_SIGPENDING, ulimit -i) kept overflowing down to 1 Hz: sampling stopped");
    return;
  }
  period_ns_ *= 2;
  ++rate_halvings_;
  for (ThreadSlot& s : slots_)
    if (s.tid.load() > 0) set_period(s);
}

int Sampler::recheck(int32_t tid) {
  if (!starved_.empty()) return kStarved;
  ThreadSlot* slot = find(tid);
  if (slot == nullptr) return kBlocked;  // not armed: the caller arms it again when it may be
  if (engine_ == Engine::Observer) return 0;  // no fd, no timer, no signal to block
  if (engine_ == Engine::Perf && !fd_is_ours(*slot)) {
    // The program closed our fd (os.closerange(3, ...) when daemonizing): the number may be
    // someone else's now, so it is forgotten, not closed, and the thread armed on a new one.
    slot->fd = -1;
    slot->tid.store(-1, std::memory_order_release);
    ++fds_rearmed_;
    std::string err;
    return arm(tid, &err);
  }
  // A thread whose CPU time ran more than 4 periods past its last sample takes no signal (or
  // spends its time in the kernel, where perf skips overflows): read its mask. Also every armed
  // thread after a SIGIO, which says a queue overflowed.
  uint64_t cpu = thread_cpu_ns(tid);
  uint64_t last = slot->last_cpu_ns.load(std::memory_order_relaxed);
  bool suspicious = cpu > last + 4 * period_ns_ && cpu > slot->checked_cpu_ns + 4 * period_ns_;
  if (!suspicious && !sigio_new_) return 0;
  slot->checked_cpu_ns = cpu;
  uint64_t mask;
  if (read_sigblk(tid, &mask) && mask_has(mask, signo_)) {
    disarm(tid);
    blocked_found_ = true;
    return kBlocked;
  }
  return 0;
}

int Sampler::arm_perf(int32_t tid, ThreadSlot* slot, std::string* err) {
  perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.sample_period = period_ns_;  // task-clock counts nanoseconds of CPU time
  attr.disabled = 1;
  // An overflow that falls while the thread is in the kernel is skipped (the count goes on, so the
  // next sample's measured CPU time covers it). The signal is then always raised from user mode
  // and delivered before the thread can enter a syscall: a thread about to block in poll(),
  // select() or nanosleep() is never interrupted into EINTR by us. Also what
  // perf_event_paranoid=2 requires of unprivileged users.
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  int fd = int(syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) {
    int e = errno;
    *err = std::string("perf_event_open(task-clock) refused: ") + strerror(e);
    return e;
  }
  f_owner_ex owner{F_OWNER_TID, tid};
  if (fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) != 0 || fcntl(fd, F_SETSIG, signo_) != 0 ||
      fcntl(fd, F_SETOWN_EX, &owner) != 0 || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) != 0) {
    int e = errno;
    close(fd);
    *err = std::string("cannot route perf overflow signal to thread: ") + strerror(e);
    return e;
  }
  uint64_t id = 0;
  ioctl(fd, PERF_EVENT_IOC_ID, &id);
  slot->perf_id = id;
  slot->fd = fd;
  return 0;
}

int Sampler::arm_timer(int32_t tid, ThreadSlot* slot, std::string* err) {
  sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = signo_;
  sev._sigev_un._tid = tid;
  timer_t timer;
  clockid_t clock = engine_ == Engine::Wall ? CLOCK_MONOTONIC : thread_cpu_clock(tid);
  if (timer_create(clock, &sev, &timer) != 0) {
    int e = errno;
    *err = std::string("timer_create failed: ") + strerror(e);
    return e;
  }
  itimerspec its;
  its.it_interval.tv_sec = time_t(period_ns_ / 1000000000ull);
  its.it_interval.tv_nsec = long(period_ns_ % 1000000000ull);
  its.it_value = its.it_interval;
  if (timer_settime(timer, 0, &its, nullptr) != 0) {
    int e = errno;
    timer_delete(timer);
    *err = std::string("timer_settime failed: ") + strerror(e);
    return e;
  }
  slot->timer = timer;
  slot->has_timer = true;
  return 0;
}

int Sampler::arm(int32_t tid, std::string* err) {
  if (!starved_.empty()) return kStarved;
  if (find(tid) != nullptr) return 0;
  bool observer = engine_ == Engine::Observer;  // its slot holds only the CPU time at arm time
  // A thread that blocks our signal would queue one per period, never taken, until the user's
  // RLIMIT_SIGPENDING is reached and the kernel sends SIGIO instead (many native pools block every
  // signal in their threads): not armed; the collector tries again when the thread has run.
  uint64_t mask;
  if (!observer && read_sigblk(tid, &mask) && mask_has(mask, signo_)) return kBlocked;
  uint32_t h = slot_hash(tid);
  ThreadSlot* slot = nullptr;
  for (int i = 0; i < kMaxThreads && !slot; ++i) {
    ThreadSlot& s = slots_[(h + i) % kMaxThreads];
    if (s.tid.load() <= 0) slot = &s;
  }
  if (!slot) {
    *err = "too many threads";
    return ENOSPC;
  }
  slot->fd = -1;
  slot->has_timer = false;
  slot->perf_id = 0;
  slot->checked_cpu_ns = thread_cpu_ns(tid);
  slot->last_cpu_ns.store(slot->checked_cpu_ns, std::memory_order_relaxed);
  slot->tid.store(tid, std::memory_order_release);  // visible to the handler before it can fire
  int rc = observer ? 0 : engine_ == Engine::Perf ? arm_perf(tid, slot, err) : arm_timer(tid, slot, err);
  if (rc != 0) slot->tid.store(-1, std::memory_order_release);
  return rc;
}

void Sampler::disarm(int32_t tid) {
  ThreadSlot* slot = find(tid);
  if (!slot) return;
  if (slot->fd >= 0 && fd_is_ours(*slot)) close(slot->fd);  // not a number the program reused
  if (slot->has_timer) timer_delete(slot->timer);
  slot->fd = -1;
  slot->has_timer = false;
  slot->tid.store(-1, std::memory_order_release);
}

void Sampler::disarm_all() {
  for (ThreadSlot& s : slots_) {
    int32_t t = s.tid.load();
    if (t > 0) disarm(t);
  }
  for (ThreadSlot& s : slots_) s.tid.store(0);
}

}  // namespace pyprof

#include "sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pyframes.h"

namespace pyprof {

Sampler g_sampler;

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

void Sampler::on_signal(int, siginfo_t*, void*) {
  int saved_errno = errno;
  Sampler& s = g_sampler;
  if (!s.active_.load(std::memory_order_acquire)) {
    errno = saved_errno;
    return;
  }
  uint64_t t0 = monotonic_ns();
  s.signals_.fetch_add(1, std::memory_order_relaxed);
  int32_t tid = int32_t(syscall(SYS_gettid));
  timespec c;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
  uint64_t cpu_now = uint64_t(c.tv_sec) * 1000000000ull + uint64_t(c.tv_nsec);
  uint64_t q = 0;
  ThreadSlot* slot = s.find(tid);
  if (slot) {
    uint64_t last = slot->last_cpu_ns.load(std::memory_order_relaxed);
    q = cpu_now > last ? cpu_now - last : 0;
    slot->last_cpu_ns.store(cpu_now, std::memory_order_relaxed);
  }
  uint64_t ticket;
  Sample* smp = s.ring_->reserve(&ticket);
  if (smp == nullptr) {
    s.lost_.fetch_add(1, std::memory_order_relaxed);
    s.lost_cpu_ns_.fetch_add(q, std::memory_order_relaxed);
  } else {
    smp->t_ns = t0;
    smp->cpu_ns = q;
    smp->tid = tid;
    smp->cpu = int16_t(sched_getcpu());
    smp->depth = 0;
    smp->truncated = 0;
    PyThreadState* ts = PyGILState_GetThisThreadState();
    if (ts != nullptr && slot != nullptr) {
      sigjmp_buf guard;
      slot->guard = &guard;
      if (sigsetjmp(guard, 0) == 0) {  // no mask save: rt_sigreturn restores the mask anyway
        slot->walking = 1;
        bool truncated = false;
        smp->depth = uint16_t(walk_frames(ts, smp->frames, kMaxDepth, &truncated));
        smp->truncated = truncated ? 1 : 0;
      } else {
        smp->depth = 0;
        smp->truncated = 2;
        s.unreadable_.fetch_add(1, std::memory_order_relaxed);
      }
      slot->walking = 0;
    }
    s.ring_->commit(ticket);
  }
  // The handler's cost is CPU time (this thread's clock), not wall time: a handler preempted on a
  // busy machine would otherwise count the time others ran as the profiler's.
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
  uint64_t cpu_end = uint64_t(c.tv_sec) * 1000000000ull + uint64_t(c.tv_nsec);
  s.handler_ns_.fetch_add(cpu_end > cpu_now ? cpu_end - cpu_now : 0, std::memory_order_relaxed);
  errno = saved_errno;
}

static struct sigaction g_prev_segv, g_prev_bus;

void Sampler::on_fault(int sig, siginfo_t* info, void* uc) {
  ThreadSlot* slot = g_sampler.find(int32_t(syscall(SYS_gettid)));
  if (slot != nullptr && slot->walking) siglongjmp(*slot->guard, 1);
  // Not ours: behave exactly as whatever was installed before us.
  struct sigaction* prev = sig == SIGSEGV ? &g_prev_segv : &g_prev_bus;
  if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction != nullptr) {
    prev->sa_sigaction(sig, info, uc);
  } else if (prev->sa_handler == SIG_DFL || prev->sa_handler == SIG_IGN) {
    sigaction(sig, prev, nullptr);  // the faulting instruction runs again and gets the default
  } else {
    prev->sa_handler(sig);
  }
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

void Sampler::configure(Engine engine, uint64_t period_ns, SampleRing* ring) {
  engine_ = engine;
  period_ns_ = period_ns;
  ring_ = ring;
  lost_ = 0;
  lost_cpu_ns_ = 0;
  handler_ns_ = 0;
  signals_ = 0;
  if (!installed_) {
    signo_ = SIGRTMIN + 5;  // real-time: queued, not merged; unused by CPython and glibc
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = &Sampler::on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, signo_);
    sigaction(signo_, &sa, nullptr);
    struct sigaction fa;
    memset(&fa, 0, sizeof fa);
    fa.sa_sigaction = &Sampler::on_fault;
    fa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&fa.sa_mask);
    sigaction(SIGSEGV, &fa, &g_prev_segv);
    sigaction(SIGBUS, &fa, &g_prev_bus);
    pthread_atfork(&Sampler::atfork_prepare, &Sampler::atfork_parent, &Sampler::atfork_child);
    installed_ = true;
  }
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
  if (find(tid) != nullptr) return 0;
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
  slot->walking = 0;
  slot->last_cpu_ns.store(thread_cpu_ns(tid), std::memory_order_relaxed);
  slot->tid.store(tid, std::memory_order_release);  // visible to the handler before it can fire
  int rc = engine_ == Engine::Perf ? arm_perf(tid, slot, err) : arm_timer(tid, slot, err);
  if (rc != 0) slot->tid.store(-1, std::memory_order_release);
  return rc;
}

void Sampler::disarm(int32_t tid) {
  ThreadSlot* slot = find(tid);
  if (!slot) return;
  if (slot->fd >= 0) close(slot->fd);
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

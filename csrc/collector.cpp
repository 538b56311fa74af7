#include "pyframes.h"  // first: it defines Py_BUILD_CORE before Python.h
#include "collector.h"
#include "signals.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <system_error>

namespace pyprof {

static std::atomic<Collector*> g_collector{nullptr};
static volatile sig_atomic_t g_term_caught = 0;

static int on_audit(const char* event, PyObject* args, void*);

// Calls a Python callable from a thread of ours (GIL held, no lock of ours held); an exception is
// the callback's own affair: there is no one here to report it to.
static void call_quietly(PyObject* callable) {
  PyObject* r = PyObject_CallNoArgs(callable);
  if (r == nullptr) PyErr_Clear();
  Py_XDECREF(r);
}

static void call_with_gil(PyObject* callable) {
  PyGILState_STATE st = PyGILState_Ensure();
  call_quietly(callable);
  PyGILState_Release(st);
}
static pid_t g_term_pid = 0;  // the process whose SIGTERM we catch (a forked child inherits the handler)

size_t Collector::VecHash::operator()(const std::vector<int32_t>& v) const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (int32_t x : v) {
    h ^= uint32_t(x);
    h *= 1099511628211ull;
  }
  return size_t(h);
}

Collector::Collector(CollectorConfig cfg) : cfg_(std::move(cfg)), ring_(cfg_.ring_capacity) {
  uint64_t five_ms = 5000000;
  scan_every_ = cfg_.cadence_ns >= five_ms ? 1 : (five_ms + cfg_.cadence_ns - 1) / cfg_.cadence_ns;
  // /proc/stat counts in USER_HZ (10 ms) and costs tens of µs (it walks every CPU and IRQ): at a
  // 1 ms cadence it is read every 10th tick (and at the first and last); other ticks store kMissing.
  const uint64_t ten_ms = 10000000ull;
  stat_every_ = cfg_.cadence_ns >= ten_ms ? 1 : (ten_ms + cfg_.cadence_ns - 1) / cfg_.cadence_ns;
}

Collector::~Collector() {
  stop();
  if (g_collector.load() == this) g_collector.store(nullptr);
}

std::string Collector::start() {
  for (const SourceSpec& s : cfg_.sources)
    if (!sched_perf_ && (s.kind == SourceKind::SchedPerfBusy || s.kind == SourceKind::SchedPerfProcess)) {
      auto sp = std::make_unique<SchedPerf>();
      sp->open();  // throws std::runtime_error with the reason
      sched_perf_ = std::move(sp);
    }
  Collector* expected = nullptr;
  if (!g_collector.compare_exchange_strong(expected, this))
    throw std::runtime_error("another pyprof-carbon profiler is already running in this process");
  if (g_sampler.in_forked_child()) {
    g_collector.store(nullptr);
    throw std::runtime_error("cannot profile in a child forked while profiling");
  }
  running_ = true;
  if (cfg_.rate_hz <= 0) {  // counters only (a baseline before the script): no sampling at all
    tick();
    start_thread();
    return "none";
  }
  static bool audit_hook_added = false;  // per process, for good: hooks cannot be removed
  if (!audit_hook_added) audit_hook_added = PySys_AddAuditHook(&on_audit, nullptr) == 0;
  PyErr_Clear();
  if (!watch_code_deaths(&Collector::on_code_dying)) {
    // Without it a sampled code object can be freed unresolved and read after free: no sampling.
    PyErr_Clear();
    g_collector.store(nullptr);
    running_ = false;
    throw std::runtime_error("cannot watch code objects (PyCode_AddWatcher failed: all code watcher slots taken?)");
  }
  watching_ = true;
  Engine engine = cfg_.engine == "timer" ? Engine::Timer : cfg_.engine == "wall" ? Engine::Wall
                 : cfg_.engine == "observer" ? Engine::Observer : Engine::Perf;
  uint64_t period = uint64_t(1e9 / cfg_.rate_hz);
  g_sampler.configure(engine, period, &ring_);
  observing_ = engine == Engine::Observer;
  if (observing_) observer_.configure(PyInterpreterState_Get(), &ring_, g_sampler.period_ns());
  g_sampler.set_active(true);
  int32_t self = int32_t(syscall(SYS_gettid));
  std::string err;
  int rc = g_sampler.arm(self, &err);
  if (rc > 0 && cfg_.engine == "auto" && engine == Engine::Perf) {
    std::string err2;
    g_sampler.set_engine(Engine::Timer);
    rc = g_sampler.arm(self, &err2);
    if (rc > 0) err += "; " + err2;
  }
  // kBlocked / kStarved are not errors: the run goes on and its results say why it is unsampled.
  if (rc > 0) {
    running_ = false;
    g_sampler.set_active(false);
    unwatch_code_deaths();
    watching_ = false;
    g_collector.store(nullptr);
    throw std::runtime_error(err);
  }
  tick();  // the first reading, and every thread that exists now
  start_thread();
  switch (g_sampler.engine()) {
    case Engine::Perf: return "perf";
    case Engine::Timer: return "timer";
    case Engine::Wall: return "wall";
    case Engine::Observer: return "observer";
  }
  return "?";
}

// The collector thread (and the flusher it starts) takes no signal but a fault of its own:
// process-directed ones (SIGINT) go to Python threads.
void Collector::start_thread() {
  sigset_t all, old;
  sigfillset(&all);
  for (int fault : kFaultSignals) sigdelset(&all, fault);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  thread_ = std::make_unique<std::thread>([this] { run(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void Collector::run() {
  pthread_setname_np(pthread_self(), "pyprof-collect");
  collector_tid_ = int32_t(syscall(SYS_gettid));
  uint64_t next = monotonic_ns() + cfg_.cadence_ns;
  // The observer engine samples from here, every sampling period of wall time, between ticks.
  uint64_t period = observing_ ? g_sampler.period_ns() : 0;
  uint64_t next_obs = observing_ ? monotonic_ns() + period : UINT64_MAX;
  // The default timer slack (50 µs) would stretch a 100 µs period by half (this thread only).
  if (observing_) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  while (running_.load(std::memory_order_acquire)) {
    {
      // steady_clock is CLOCK_MONOTONIC: an absolute deadline on the samples' clock, as
      // clock_nanosleep(TIMER_ABSTIME) would give, but stop() and pause_thread() can wake it.
      std::unique_lock<std::mutex> lk(wake_mu_);
      auto deadline = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(std::min(next, next_obs)));
      wake_cv_.wait_until(lk, deadline, [this] { return pause_ || !running_.load(std::memory_order_acquire); });
      if (pause_) return;
    }
    if (!running_.load(std::memory_order_acquire)) break;
    if (g_term_caught) {
      die_of_sigterm();
      return;
    }
    if (observing_) {
      uint64_t now = monotonic_ns();
      if (now >= next_obs) {
        observer_.observe(collector_tid_);
        next_obs += period;
        now = monotonic_ns();
        if (now > next_obs) next_obs = now + period - (now - next_obs) % period;  // fell behind: skip
      }
      if (now < next) continue;  // not yet time for the counters
    }
    tick();
    bool names = new_threads_ && new_threads_cb_ != nullptr;
    bool flush = flush_cb_ != nullptr && monotonic_ns() >= next_flush_ns_;
    if (names) new_threads_ = false;
    if (flush) next_flush_ns_ = monotonic_ns() + flush_every_ns_;
    if (names || flush) hand_to_flusher(names, flush);
    next += cfg_.cadence_ns;
    uint64_t now = monotonic_ns();
    if (now > next) next = now + cfg_.cadence_ns - (now - next) % cfg_.cadence_ns;  // fell behind: skip
  }
}

static uint64_t own_thread_cpu_ns() {
  timespec c;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
  return uint64_t(c.tv_sec) * 1000000000ull + uint64_t(c.tv_nsec);
}

void Collector::note_own_cpu() {
  collector_clock_ns_ = own_thread_cpu_ns();
  collector_cpu_ns = collector_cpu_base_ + collector_clock_ns_ + flusher_cpu_ns_.load(std::memory_order_relaxed);
}

void Collector::hand_to_flusher(bool names, bool flush) {
  std::unique_lock<std::mutex> lk(wake_mu_);
  if (pause_ || !running_.load(std::memory_order_acquire)) return;
  if (!flusher_) {
    // Created from this thread, it inherits its mask (start_thread). Its tid is known
    // before the next scan, which would otherwise arm it as one of the program's threads.
    try {
      flusher_ = std::make_unique<std::thread>([this] { run_flusher(); });
    } catch (const std::system_error&) {  // no thread to spare (RLIMIT_NPROC): call them from here
      lk.unlock();
      if (names) call_with_gil(new_threads_cb_);
      if (flush) call_with_gil(flush_cb_);
      return;
    }
    flusher_cv_.wait(lk, [this] { return flusher_tid_.load() != 0; });
  }
  names_due_ |= names;
  flush_due_ |= flush;
  lk.unlock();
  flusher_cv_.notify_all();
}

void Collector::run_flusher() {
  pthread_setname_np(pthread_self(), "pyprof-flush");
  {
    std::lock_guard<std::mutex> lk(wake_mu_);
    flusher_tid_ = int32_t(syscall(SYS_gettid));
  }
  flusher_cv_.notify_all();
  for (;;) {
    bool names, flush;
    {
      std::unique_lock<std::mutex> lk(wake_mu_);
      flusher_cv_.wait(lk, [this] { return pause_ || !running_.load() || names_due_ || flush_due_; });
      if (pause_ || !running_.load()) return;
      names = names_due_;
      flush = flush_due_;
      names_due_ = flush_due_ = false;
    }
    PyGILState_STATE st = PyGILState_Ensure();
    bool go_on;
    {
      // stop() or pause_thread() may have begun while this thread waited for the GIL (they release
      // it while they join): the hand-over then takes the results itself.
      std::lock_guard<std::mutex> lk(wake_mu_);
      go_on = !pause_ && running_.load();
    }
    if (go_on && names && new_threads_cb_ != nullptr) call_quietly(new_threads_cb_);
    if (go_on && flush && flush_cb_ != nullptr) call_quietly(flush_cb_);
    PyGILState_Release(st);
    flusher_cpu_ns_.store(own_thread_cpu_ns(), std::memory_order_relaxed);
  }
}

void Collector::join_threads() {
  wake_cv_.notify_all();
  flusher_cv_.notify_all();
  if (thread_ && thread_->joinable()) thread_->join();
  thread_.reset();
  // The collector is gone: no one starts a flusher now.
  if (flusher_ && flusher_->joinable()) flusher_->join();
  flusher_.reset();
  collector_cpu_base_ += collector_clock_ns_ + flusher_cpu_ns_.load();  // the next threads' clocks start at zero
  collector_clock_ns_ = 0;
  flusher_cpu_ns_ = 0;
  collector_cpu_ns = collector_cpu_base_;
}

void Collector::tick(bool every_source) {
  if (thread_ && std::this_thread::get_id() == thread_->get_id()) note_own_cpu();
  uint64_t now = monotonic_ns();
  uint64_t profiler_cpu = collector_cpu_ns + g_sampler.handler_ns();
  size_t n = cfg_.sources.size();
  if (sched_perf_) sched_perf_->poll(now, nullptr, nullptr);
  std::lock_guard<std::mutex> lk(mu_);
  tick_t.push_back(now);
  bool read_stat = every_source || reads_++ % stat_every_ == 0;
  scratch_.new_tick();
  for (size_t i = 0; i < n; ++i) {
    const SourceSpec& s = cfg_.sources[i];
    bool sp = sched_perf_ && (s.kind == SourceKind::SchedPerfBusy || s.kind == SourceKind::SchedPerfProcess);
    if (s.kind == SourceKind::ProcStatBusy && !read_stat)
      tick_raw.push_back(kMissing);
    else
      tick_raw.push_back(sp ? sched_perf_->value(s.kind == SourceKind::SchedPerfProcess, s.offset)
                            : read_counter(s, profiler_cpu, scratch_));
  }
  drain_locked();
  if (running_ && cfg_.rate_hz > 0 && tick_no_++ % scan_every_ == 0) scan_threads(now);
}

void Collector::pause_thread() {
  if (!thread_ || g_sampler.in_forked_child()) return;
  {
    std::lock_guard<std::mutex> lk(wake_mu_);
    pause_ = true;
  }
  join_threads();
  // join() returns when the kernel clears the thread's tid, a moment before it leaves the
  // thread group that /proc/self/stat counts (what 3.12+ reads for its fork warning): wait for
  // that too, at most 20 ms each.
  for (int32_t tid : {collector_tid_, flusher_tid_.exchange(0)}) {
    if (tid == 0) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d", tid);
    for (int i = 0; i < 2000 && access(path, F_OK) == 0; ++i) usleep(10);
  }
}

void Collector::resume_thread() {
  if (thread_ || g_sampler.in_forked_child() || !running_.load(std::memory_order_acquire)) return;
  {
    std::lock_guard<std::mutex> lk(wake_mu_);
    pause_ = false;
  }
  start_thread();
}

static int resume_pending(void* self) {
  static_cast<Collector*>(self)->resume_thread();
  return 0;
}

void Collector::resume_thread_soon() {
  if (Py_AddPendingCall(&resume_pending, this) != 0) resume_thread();  // the queue is full: now
}

// CPython's audit events for starting a process (the program's threads raise them with the GIL
// held, just before the process starts): the process's command line, and the Python stack of the
// thread that starts it. A hook cannot be removed: it does nothing when no collector runs.
static std::string argv_text(PyObject* o) {
  std::string out;
  auto add = [&out](PyObject* item) {
    PyObject* s = PyUnicode_Check(item) ? (Py_INCREF(item), item)
                  : PyBytes_Check(item) ? PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(item))
                                        : PyObject_Str(item);
    const char* c = s ? PyUnicode_AsUTF8(s) : nullptr;
    if (c) out += (out.empty() ? "" : " ") + std::string(c);
    Py_XDECREF(s);
    PyErr_Clear();
  };
  if (PyList_Check(o) || PyTuple_Check(o)) {
    Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    for (Py_ssize_t i = 0; i < n && out.size() < 200; ++i) add(PySequence_Fast_GET_ITEM(o, i));
  } else {
    add(o);
  }
  return out.size() > 200 ? out.substr(0, 200) : out;
}

static int on_audit(const char* event, PyObject* args, void*) {
  Collector* c = g_collector.load(std::memory_order_acquire);
  if (c == nullptr || !PyTuple_Check(args)) return 0;
  int argv_at = strcmp(event, "subprocess.Popen") == 0 ? 1
                : strcmp(event, "os.posix_spawn") == 0 ? 1
                : strcmp(event, "os.system") == 0      ? 0
                                                       : -1;
  if (argv_at < 0 || PyTuple_GET_SIZE(args) <= argv_at) return 0;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  c->note_spawn(argv_text(PyTuple_GET_ITEM(args, argv_at)));
  PyErr_Restore(type, value, tb);
  return 0;
}

void Collector::note_spawn(const std::string& argv) {
  if (!running_.load(std::memory_order_acquire) || g_sampler.in_forked_child()) return;
  std::vector<FrameRef> frames(kMaxDepth);  // rare: a process start
  uint8_t mark = kWhole;
  int depth = walk_frames(PyThreadState_Get(), frames.data(), kMaxDepth, &mark);  // our own thread, GIL held
  std::lock_guard<std::mutex> lk(mu_);
  spawns.push_back(Spawn{monotonic_ns(), int32_t(syscall(SYS_gettid)), intern_stack(frames.data(), depth, mark), argv});
  track_children_ = true;
}

// Children of this process and their CPU time, from /proc: only once the program has started a
// process (an audit event), so a program that never does reads nothing more. CPU time has the
// kernel's tick resolution (USER_HZ); a child that lives less than a scan can be missed.
void Collector::scan_children(const std::unordered_set<int32_t>& tids, uint64_t now) {
  std::unordered_set<int32_t> seen;
  char path[96], buf[1024];
  for (int32_t tid : tids) {
    snprintf(path, sizeof path, "/proc/self/task/%d/children", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (k <= 0) continue;
    buf[k] = 0;
    for (char* p = buf; *p;) {
      long pid = strtol(p, &p, 10);
      if (pid > 0) seen.insert(int32_t(pid));
      while (*p == ' ' || *p == '\n') ++p;
      if (pid <= 0 && *p) ++p;
    }
  }
  for (const auto& kv : child_last_) seen.insert(kv.first);  // still there until it is reaped
  static const long hz = sysconf(_SC_CLK_TCK);
  for (int32_t pid : seen) {
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t k = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0) close(fd);
    char* end = k > 0 ? (buf[k] = 0, strrchr(buf, ')')) : nullptr;
    if (end == nullptr) {
      child_last_.erase(pid);  // reaped (its last value stands)
      continue;
    }
    // after "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    unsigned long long f[15] = {0};
    char* p = end + 2;
    for (int i = 0; i < 15 && *p; ++i) {
      if (i == 0) {
        p += 2;  // the state letter
        continue;
      }
      f[i] = strtoull(p, &p, 10);
    }
    uint64_t cpu = (f[11] + f[12] + f[13] + f[14]) * (1000000000ull / uint64_t(hz > 0 ? hz : 100));
    auto it = child_last_.find(pid);
    if (it == child_last_.end()) {
      char* open_paren = strchr(buf, '(');
      children.push_back(ChildProcess{pid, now, open_paren ? std::string(open_paren + 1, end) : ""});
    } else if (it->second == cpu) {
      continue;
    }
    child_last_[pid] = cpu;
    child_t.push_back(now);
    child_pid.push_back(pid);
    child_cpu.push_back(cpu);
  }
}

void Collector::on_flush(struct _object* cb, uint64_t every_ns) {
  Py_XINCREF(cb);
  Py_XDECREF(flush_cb_);
  flush_cb_ = cb;
  flush_every_ns_ = every_ns;
  next_flush_ns_ = monotonic_ns() + every_ns;
}

void Collector::take_results(Delta* out) {
  std::lock_guard<std::mutex> lk(mu_);
  drain_locked();
  for (size_t i = codes_taken_; i < codes.size(); ++i)
    if (codes[i].ptr != nullptr) resolve_code(codes[i]);
  for (size_t i = locations_taken_; i < locations.size(); ++i) {
    Location& l = locations[i];
    CodeInfo& c = codes[l.code];
    if (l.line == -1 && c.ptr != nullptr) resolve_code(c);  // a new place in an older code
  }
  out->first_stack = int32_t(stacks_taken_);
  out->first_location = int32_t(locations_taken_);
  out->first_code = int32_t(codes_taken_);
  out->s_t.swap(s_t);
  out->s_cpu.swap(s_cpu);
  out->s_tid.swap(s_tid);
  out->s_cpuno.swap(s_cpuno);
  out->s_nvcsw.swap(s_nvcsw);
  out->s_native.swap(s_native);
  out->s_stack.swap(s_stack);
  out->tick_t.swap(tick_t);
  out->tick_raw.swap(tick_raw);
  out->spawns.swap(spawns);
  out->children.swap(children);
  out->child_t.swap(child_t);
  out->child_pid.swap(child_pid);
  out->child_cpu.swap(child_cpu);
  out->stacks.assign(stacks.begin() + stacks_taken_, stacks.end());
  out->locations.assign(locations.begin() + locations_taken_, locations.end());
  out->codes.clear();
  for (size_t i = codes_taken_; i < codes.size(); ++i) out->codes.push_back(&codes[i]);
  stacks_taken_ = stacks.size();
  locations_taken_ = locations.size();
  codes_taken_ = codes.size();
}

template <typename T>
static void forget(T& x) {
  new T(std::move(x));  // leaves x empty; the old contents stay where they are, shared with the parent
}

// The child's copy of this object describes the parent's run. The collector thread does not
// exist here (pause_thread() ended it before the fork), nor does any lock holder: reset in place.
void Collector::reset_after_fork() {
  running_ = false;
  pause_ = false;
  thread_.reset();
  flusher_.reset();
  flusher_tid_ = 0;
  names_due_ = flush_due_ = false;
  Collector* self = this;
  g_collector.compare_exchange_strong(self, nullptr);
  g_sampler.reset_after_fork();
  ring_.reset();
  // The parent's tables are moved out and never freed: freeing them would write to every heap
  // page they occupy, which the child would copy one by one (18 ms here for a small program).
  forget(s_t); forget(s_cpu); forget(s_tid); forget(s_cpuno); forget(s_stack); forget(s_nvcsw); forget(s_native);
  forget(stacks); forget(locations); forget(codes); forget(tick_t); forget(tick_raw); forget(threads);
  forget(code_ids_); forget(loc_ids_); forget(stack_ids_); forget(live_threads_);
  forget(spawns); forget(children); forget(child_t); forget(child_pid); forget(child_cpu); forget(child_last_);
  track_children_ = false;
  stacks_taken_ = locations_taken_ = codes_taken_ = 0;
  collector_cpu_ns = collector_cpu_base_ = collector_clock_ns_ = 0;
  flusher_cpu_ns_ = 0;
  collector_tid_ = 0;
  tick_no_ = reads_ = 0;
  new_threads_ = false;
  sched_perf_.reset();
  // The machine's counters stay with the first process; a child reads its own CPU clocks only.
  cfg_.sources = {SourceSpec{SourceKind::ProcessCpu, -1, 0, 0, 0}, SourceSpec{SourceKind::ProfilerCpu, -1, 0, 0, 0}};
  Py_XDECREF(flush_cb_);
  flush_cb_ = nullptr;
  Py_XDECREF(new_threads_cb_);
  new_threads_cb_ = nullptr;
  Py_XDECREF(term_save_);
  term_save_ = nullptr;
}

void Collector::on_new_threads(struct _object* cb) {
  Py_XINCREF(cb);
  Py_XDECREF(new_threads_cb_);
  new_threads_cb_ = cb;
}

bool Collector::save_on_sigterm(struct _object* save) {
  struct sigaction old;
  if (sigaction(SIGTERM, nullptr, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
      (old.sa_handler != SIG_DFL && old.sa_handler != &Collector::on_sigterm))  // ours: a forked child's
    return false;
  Py_XINCREF(save);
  Py_XDECREF(term_save_);
  term_save_ = save;
  g_term_pid = getpid();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = &Collector::on_sigterm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  return sigaction(SIGTERM, &sa, nullptr) == 0;
}

// Async-signal-safe: sets a flag the collector thread polls at each tick (at most one cadence
// later); on a second delivery, when no collector runs, or in a child forked by the program (it
// inherits this handler but not the collector thread: a pool worker told to terminate must die),
// it dies as the default action would.
void Collector::on_sigterm(int) {
  if (g_term_caught || g_collector.load() == nullptr || getpid() != g_term_pid) {
    signal(SIGTERM, SIG_DFL);
    kill(getpid(), SIGTERM);
    return;
  }
  g_term_caught = 1;
}

bool Collector::term_caught() { return g_term_caught != 0 && getpid() == g_term_pid; }

void Collector::die_of_sigterm() {
  running_ = false;
  g_sampler.set_active(false);
  g_sampler.disarm_all();
  tick(true);
  sched_perf_.reset();
  if (term_save_ != nullptr) call_with_gil(term_save_);
  signal(SIGTERM, SIG_DFL);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  kill(getpid(), SIGTERM);  // process-directed: a thread that does not block it takes it and dies
  pthread_sigmask(SIG_UNBLOCK, &term, nullptr);
  for (;;) pause();
}

void Collector::scan_threads(uint64_t now) {
  DIR* d = opendir("/proc/self/task");
  if (!d) return;
  g_sampler.begin_scan();
  std::unordered_set<int32_t> present;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int32_t tid = int32_t(atoi(e->d_name));
    if (tid == collector_tid_ || tid == flusher_tid_.load()) continue;
    present.insert(tid);
    auto it = live_threads_.find(tid);
    if (it != live_threads_.end()) {
      ThreadInfo& t = threads[it->second];
      t.last_seen_ns = now;
      int rc = 0;
      if (!t.blocked_now) {
        rc = g_sampler.recheck(tid);
      } else {
        // Only a thread that ran can have changed its mask: read it again only then.
        uint64_t cpu = thread_cpu_ns(tid);
        if (cpu != t.blocked_cpu_ns) {
          std::string err;
          rc = g_sampler.arm(tid, &err);
          if (rc > 0 && t.arm_error.empty()) t.arm_error = err;
        } else {
          rc = Sampler::kBlocked;
        }
      }
      note_blocked(t, rc);
      continue;
    }
    ThreadInfo info{tid, "", now, now, ""};
    char path[64], comm[32] = {0};
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t k = read(fd, comm, sizeof comm - 1);
      close(fd);
      if (k > 0 && comm[k - 1] == '\n') comm[k - 1] = 0;
    }
    info.comm = comm;
    note_blocked(info, g_sampler.arm(tid, &info.arm_error));
    new_threads_ = true;
    live_threads_[tid] = threads.size();
    threads.push_back(std::move(info));
  }
  closedir(d);
  if (track_children_.load(std::memory_order_relaxed)) scan_children(present, now);
  g_sampler.end_scan();
  for (auto it = live_threads_.begin(); it != live_threads_.end();) {
    if (present.count(it->first) == 0) {
      g_sampler.disarm(it->first);
      it = live_threads_.erase(it);
    } else {
      ++it;
    }
  }
}

void Collector::note_blocked(ThreadInfo& t, int arm_rc) {
  t.blocked_now = arm_rc == Sampler::kBlocked;
  if (t.blocked_now) {
    t.blocked = true;
    t.blocked_cpu_ns = thread_cpu_ns(t.tid);
  }
}

int32_t Collector::intern_code(void* ptr) {
  auto it = code_ids_.find(ptr);
  if (it != code_ids_.end()) return it->second;
  int32_t id = int32_t(codes.size());
  CodeInfo c;
  c.ptr = ptr;
  codes.push_back(std::move(c));
  code_ids_.emplace(ptr, id);
  return id;
}

int32_t Collector::intern_stack(const FrameRef* frames, int depth, uint8_t truncated) {
  frame_buf_.clear();
  for (int i = 0; i < depth; ++i) {
    int32_t code = intern_code(frames[i].code);
    LocKey key{code, frames[i].lasti};
    auto it = loc_ids_.find(key);
    int32_t loc;
    if (it != loc_ids_.end()) {
      loc = it->second;
    } else {
      loc = int32_t(locations.size());
      locations.push_back(Location{code, key.lasti});
      codes[code].locs.push_back(loc);
      loc_ids_.emplace(key, loc);
    }
    frame_buf_.push_back(loc);
  }
  if (truncated == kDeeper) frame_buf_.push_back(-1);  // markers, see module.cpp
  if (truncated == kBroken) frame_buf_.push_back(-2);
  auto it = stack_ids_.find(frame_buf_);
  if (it != stack_ids_.end()) return it->second;
  int32_t sid = int32_t(stacks.size());
  stacks.push_back(frame_buf_);
  stack_ids_.emplace(frame_buf_, sid);
  return sid;
}

void Collector::drain_locked() {
  while (const Sample* s = ring_.peek()) {
    int32_t sid = intern_stack(s->frames, s->depth, s->truncated);
    s_t.push_back(s->t_ns);
    s_cpu.push_back(s->cpu_ns);
    s_tid.push_back(s->tid);
    s_cpuno.push_back(s->cpu);
    s_nvcsw.push_back(s->nvcsw);
    s_native.push_back(s->in_native);
    s_stack.push_back(sid);
    ring_.release();
  }
}

void Collector::resolve_code(CodeInfo& c) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyCodeObject* co = static_cast<PyCodeObject*>(c.ptr);
  if (!c.resolved) {
    auto str = [](const char* s) { return std::string(s ? s : "?"); };
    c.name = str(PyUnicode_AsUTF8(co->co_name));
    c.qualname = str(code_qualname(co));
    c.file = str(PyUnicode_AsUTF8(co->co_filename));
    c.firstline = co->co_firstlineno;
    c.resolved = true;
  }
  for (int32_t loc : c.locs) {
    Location& l = locations[loc];
    if (l.line == -1) l.line = l.lasti < 0 ? c.firstline : PyCode_Addr2Line(co, l.lasti);
  }
  PyErr_Clear();
  PyErr_Restore(type, value, tb);
}

void Collector::on_code_dying(struct _object* code) {
  Collector* c = g_collector.load(std::memory_order_acquire);
  if (c == nullptr || g_sampler.in_forked_child()) return;
  std::lock_guard<std::mutex> lk(c->mu_);
  // Pairs with the observer's fence between its reservation and its reads (observer.cpp): if it
  // read this code's pointer before the last reference went, its reservation is seen below.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // Samples of this code still in the ring are interned now, while it lives: all of them, also
  // those committed behind a cell another thread's handler has reserved and not yet committed
  // (drain_locked stops at that cell). Such a handler is running now and commits in µs; a thread
  // stopped inside one (a debugger) is not waited for past 200 ms.
  uint64_t end = c->ring_.reserved_end();
  uint64_t deadline = 0;
  for (;;) {
    c->drain_locked();
    if (c->ring_.consumed() >= end) break;
    uint64_t t = monotonic_ns();
    if (deadline == 0) deadline = t + 200000000ull;
    else if (t > deadline) break;
    sched_yield();
  }
  auto it = c->code_ids_.find(code);
  if (it == c->code_ids_.end()) return;
  CodeInfo& info = c->codes[it->second];
  c->resolve_code(info);  // its names, and the lines of locations interned since the last take
  info.ptr = nullptr;
  c->code_ids_.erase(it);  // the address may be reused by a new code object
}

void Collector::stop() {
  if (!running_.exchange(false)) return;
  struct sigaction cur;
  if (term_save_ != nullptr && sigaction(SIGTERM, nullptr, &cur) == 0 && cur.sa_handler == &Collector::on_sigterm)
    signal(SIGTERM, SIG_DFL);  // from now on a SIGTERM kills as it would have
  if (g_sampler.in_forked_child()) {
    // A child forked while profiling inherited this object but not the collector thread, and
    // maybe a mutex that thread held: touch neither (the std::threads are leaked, not destroyed).
    (void)thread_.release();
    (void)flusher_.release();
    return;
  }
  {
    std::lock_guard<std::mutex> lk(wake_mu_);  // running_ is false: wake the thread now
  }
  join_threads();
  // No handler may still write into ring_ once this object can be freed.
  g_sampler.deactivate_and_wait();
  g_sampler.disarm_all();
  tick(true);  // the last reading closes the last interval
  sched_perf_.reset();
}

void Collector::resolve() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    drain_locked();
    for (CodeInfo& c : codes)
      if (c.ptr != nullptr) resolve_code(c);
  }
  if (watching_) unwatch_code_deaths();
  watching_ = false;
  Collector* self = this;
  g_collector.compare_exchange_strong(self, nullptr);
}

void Collector::snapshot_ticks(std::vector<uint64_t>& t, std::vector<uint64_t>& raw) {
  std::lock_guard<std::mutex> lk(mu_);
  t = tick_t;
  raw = tick_raw;
}

}  // namespace pyprof

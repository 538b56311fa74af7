// The sampling engines and the signal handlers.
//
// Async-signal-safety contract of the handlers (Sampler::on_signal, on_fault, on_sigio):
//   - they call only async-signal-safe functions: clock_gettime, syscall(SYS_gettid), sched_getcpu
//     (vDSO/rseq read), sigaction, raise, rt_tgsigqueueinfo, siglongjmp, and
//     PyGILState_GetThisThreadState (a pthread_getspecific of a key created at interpreter start:
//     a lock-free TLS read in glibc);
//   - they allocate nothing, take no lock, touch no refcount and call no other Python API: the
//     sample handler copies (code pointer, instruction offset) pairs into a preallocated lock-free
//     ring; its walk state is an initial-exec thread_local (static TLS: no __tls_get_addr, which
//     may allocate on a thread's first access), not the slot table that disarm clears;
//   - the sample handler's speed probe (speed_probe.h) is registers, a static read-only table, a
//     TSC read and relaxed atomic increments;
//   - they save and restore errno, so an interrupted system call sees its own errno;
//   - the sample handler counts itself in `inflight_` before it looks at `active_`, so stop() can
//     wait until no handler still uses the ring before the ring is freed;
//   - frame memory can be inconsistent at the instant of the signal (3.11/3.12 publish a new
//     _PyCFrame before its current_frame is set), so the walk runs under a fault guard: a
//     kernel-raised SIGSEGV/SIGBUS on the thread that is walking siglongjmps back and the sample
//     is marked unreadable. The sample handler blocks every asynchronous signal while it runs, so
//     no other library's handler can nest on it: a fault during the walk is the walk's. Any other
//     fault goes to the handler that was installed before ours (the collector re-installs ours
//     over whatever the program installs later, chaining to it: faulthandler, pytest), once; if
//     that handler hands it back to us, the default action (a core dump, as without us). (Reads
//     by process_vm_readv on our own pid would need no guard, but cost 2-4 µs each here: ~60 per
//     sample of a 30-frame stack, against a handler of ~2 µs CPU and a ~50 µs signal);
//   - the sample handler is installed with SA_RESTART and never uninstalled (a queued real-time
//     signal delivered after profiling stops would otherwise kill the process with the default
//     action); when inactive it returns at once.
// Our signal: the first real-time signal from SIGRTMAX down whose disposition is the default and
// that the starting thread does not block (signals.h). Each thread scan checks it is still ours;
// if the program installed a handler or SIG_IGN on it, sampling stops for the run ("starved"),
// so no more of our signals reach a handler that is not ours. A thread that blocks it is not
// armed (or disarmed at the next scan), so no signal is queued to it that it would never take.
// SIGIO: when a real-time signal cannot be queued (RLIMIT_SIGPENDING reached: `ulimit -i`), the
// kernel sends the owner of a perf fd SIGIO instead, whose default action kills. While SIGIO has
// the default disposition we catch it (a kernel-sent SIGIO is swallowed and counted, any other is
// given the default action), and the next scan disarms threads that block our signal or else
// halves the rate; the rate keeps halving while overflows go on, until it gives up ("starved").
// Engines: `perf` = one perf_event_open software task-clock event per thread, signal on overflow
// routed to that thread (F_SETOWN_EX); `timer` = one timer_create per thread on the thread's CPU
// clock with SIGEV_THREAD_ID. Both only tick while the thread runs, so a thread blocked in
// poll/select/sleep is never interrupted by them. `wall` = the same timers on CLOCK_MONOTONIC:
// waiting threads are sampled too (to charge GPU energy to the code that waits on the GPU), at
// the price that a C call blocked in poll/select/nanosleep can see EINTR (Python's own calls
// retry, PEP 475); so it is never chosen unless asked for or a GPU is metered. `observer` =
// no signal at all: the collector thread reads the other threads' frame chains (observer.h); the
// sampler only keeps its per-thread CPU bookkeeping (arm/disarm without fd or timer) and the
// fault guard its reads run under.
#pragma once

#include <setjmp.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <sys/types.h>

#include "ring.h"
#include "speed_probe.h"

namespace pyprof {

enum class Engine { Perf, Timer, Wall, Observer };

class Sampler {
 public:
  static constexpr int kMaxThreads = 4096;
  // The shortest period configure() accepts (20 kHz, the CLI's --rate maximum too). Measured on a
  // 2-vCPU Firecracker VM (kernel 6.18, perf engine, one busy thread, RLIMIT_SIGPENDING 64): 5, 10,
  // 20 and 50 kHz are reached (5039, 10139, 20424, 46565 per CPU-second) with no queue overflow,
  // since a thread's own signal is taken before it runs on; at 100 kHz the thread livelocks
  // (signal delivery plus handler costs about the period, every return meets the next overflow).
  static constexpr uint64_t kMinPeriodNs = 50000;

  // Choose our signal and install the handlers (once per process, or again if the program took
  // our signal since) and set the period; arms nothing. Resets the counters of a previous session.
  void configure(Engine engine, uint64_t period_ns, SampleRing* ring);
  Engine engine() const { return engine_; }
  void set_engine(Engine e) { engine_ = e; }
  int signal_number() const { return signo_; }

  // Start sampling thread `tid` (any thread of this process). 0 on success (or already armed);
  // kBlocked when the thread blocks our signal (not armed; not an error: arm it again later);
  // kStarved when sampling has stopped for the process (starved()); else errno with a message in
  // *err. Called only from one thread at a time (the collector, or start/stop).
  static constexpr int kBlocked = -1, kStarved = -2;
  int arm(int32_t tid, std::string* err);
  void disarm(int32_t tid);
  void disarm_all();

  // Collector thread, at each thread scan: begin_scan() checks that our handlers are still
  // installed (our signal: else starve; SIGSEGV/SIGBUS and SIGIO: install ours again, chaining);
  // recheck(tid) for each armed thread (0 still armed, kBlocked disarmed because it blocks our
  // signal now, kStarved): it re-arms a thread whose perf fd the program closed, and reads the
  // thread's blocked mask when its CPU time ran ahead of its samples or SIGIO was seen;
  // end_scan() lowers the rate if SIGIO was seen and no blocking thread explains it.
  void begin_scan();
  int recheck(int32_t tid);
  void end_scan();

  void set_active(bool on) { active_.store(on, std::memory_order_seq_cst); }
  // Inactive, then wait (at most `max_wait_ns`) until no handler is still between its entry and
  // its last ring access; false if one still is (a thread stopped inside it by a debugger).
  bool deactivate_and_wait(uint64_t max_wait_ns = 2000000000ull);
  bool in_forked_child() const { return forked_child_; }
  // A forked child that profiles itself (its collector was reset): sampling may start again.
  void reset_after_fork() { forked_child_ = false; }

  // Thread `tid`'s CPU time since its previous sample (or since it was armed), given its CPU
  // time now; false when it is not armed. Async-signal-safe (a handler and the observer share it).
  bool cpu_since_last(int32_t tid, uint64_t cpu_now, uint64_t* delta);
  // A sample the ring had no room for, and one whose stack could not be read (observer engine:
  // the handler counts its own).
  void note_lost(uint64_t cpu_ns) {
    lost_.fetch_add(1, std::memory_order_relaxed);
    lost_cpu_ns_.fetch_add(cpu_ns, std::memory_order_relaxed);
  }
  void note_unreadable() { unreadable_.fetch_add(1, std::memory_order_relaxed); }
  // Collector thread, before the observer reads other threads' memory: our SIGSEGV guard is
  // installed (put back over whatever the program installed since the last scan). SIGBUS is left
  // to the scans (every 5 ms): a read of freed heap memory faults with SIGSEGV, and one syscall
  // fewer per round is 0.75 µs of the ~20 µs a round costs here.
  void ensure_guard() { install_guard(SIGSEGV, false); }

  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }
  uint64_t lost_cpu_ns() const { return lost_cpu_ns_.load(std::memory_order_relaxed); }
  uint64_t handler_ns() const { return handler_ns_.load(std::memory_order_relaxed); }
  const SpeedProbe& probe() const { return probe_; }
  uint64_t signals() const { return signals_.load(std::memory_order_relaxed); }
  uint64_t unreadable() const { return unreadable_.load(std::memory_order_relaxed); }
  uint64_t sigio() const { return sigio_.load(std::memory_order_relaxed); }
  uint64_t fds_rearmed() const { return fds_rearmed_; }
  uint64_t guard_reinstalled() const { return guard_reinstalled_; }
  uint64_t period_ns() const { return period_ns_; }
  uint64_t rate_halvings() const { return rate_halvings_; }
  const std::string& starved() const { return starved_; }

 // The handlers (sampler.cpp; their contract at the top of this file).
  static void on_signal(int, siginfo_t*, void*);
  static void on_fault(int, siginfo_t*, void*);
  static void on_sigio(int, siginfo_t*, void*);

 private:
  struct ThreadSlot {
    std::atomic<int32_t> tid;          // 0 = never used, -1 = free again
    std::atomic<uint64_t> last_cpu_ns; // thread CPU time at its previous sample
    int fd;                            // perf engine
    timer_t timer;                     // timer engine
    bool has_timer;
    uint64_t perf_id;                  // PERF_EVENT_IOC_ID of fd: tells our event from a reused fd number
    uint64_t checked_cpu_ns;           // thread CPU time when its blocked mask was last read
  };
  void install_guard(int sig, bool first);
  void starve(const std::string& why);
  bool fd_is_ours(const ThreadSlot& slot) const;
  int set_period(ThreadSlot& slot);
  static void atfork_prepare();
  static void atfork_parent();
  static void atfork_child();
  ThreadSlot* find(int32_t tid);
  int arm_perf(int32_t tid, ThreadSlot* slot, std::string* err);
  int arm_timer(int32_t tid, ThreadSlot* slot, std::string* err);

  Engine engine_ = Engine::Perf;
  uint64_t period_ns_ = 1000000;
  SampleRing* ring_ = nullptr;
  int signo_ = 0;
  bool installed_ = false;
  bool forked_child_ = false;
  std::atomic<bool> active_{false};
  std::atomic<int> inflight_{0};  // sample handlers between their entry and their last ring access
  std::atomic<uint64_t> lost_{0}, lost_cpu_ns_{0}, handler_ns_{0}, signals_{0}, unreadable_{0}, sigio_{0};
  SpeedProbe probe_;              // run by the sample handler (speed_probe.h)
  std::string starved_;           // why sampling stopped for the process, "" while it goes on
  uint64_t sigio_seen_ = 0;       // sigio_ at the previous scan
  bool sigio_new_ = false, blocked_found_ = false;  // this scan
  uint64_t fds_rearmed_ = 0, guard_reinstalled_ = 0, rate_halvings_ = 0;
  ThreadSlot slots_[kMaxThreads] = {};
};

extern Sampler g_sampler;  // process-wide: signal dispositions are process-wide

// Calls fn(arg) under the fault guard: a kernel-raised SIGSEGV/SIGBUS on this thread while fn runs
// siglongjmps back here and makes it return false (true when fn returned). fn must hold nothing a
// jump would leak (no locks, no C++ objects with destructors). Async-signal-safe; nests in no
// other guarded call on the same thread (a signal handler's walk runs with every asynchronous
// signal blocked, and the collector thread, the other caller, blocks all of them).
bool run_guarded(void (*fn)(void*), void* arg);

uint64_t monotonic_ns();
uint64_t thread_cpu_ns(int32_t tid);  // any thread of this process

}  // namespace pyprof

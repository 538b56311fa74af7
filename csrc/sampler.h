// The sampling engines and the signal handler.
//
// Signal-safety contract of the handler (Sampler::on_signal):
//   - it calls only async-signal-safe functions: clock_gettime, syscall(SYS_gettid), sched_getcpu
//     (vDSO/rseq read), and PyGILState_GetThisThreadState (a pthread_getspecific of a key created
//     at interpreter start: a lock-free TLS read in glibc);
//   - it allocates nothing, takes no lock, touches no refcount and calls no other Python API: it
//     copies (code pointer, instruction offset) pairs into a preallocated lock-free ring;
//   - it saves and restores errno, so an interrupted system call sees its own errno;
//   - frame memory can be inconsistent at the instant of the signal (3.11/3.12 publish a new
//     _PyCFrame before its current_frame is set), so the walk runs under a fault guard: a
//     SIGSEGV/SIGBUS raised inside it siglongjmps back and the sample is marked unreadable; any
//     other fault goes to the handler that was installed before ours (or the default action);
//     and every code pointer is checked to look like a live code object before it is kept;
//   - it is installed with SA_RESTART and never uninstalled (a queued real-time signal delivered
//     after profiling stops would otherwise kill the process with the default action); when
//     inactive it returns at once.
// Engines: `perf` = one perf_event_open software task-clock event per thread, signal on overflow
// routed to that thread (F_SETOWN_EX); `timer` = one timer_create per thread on the thread's CPU
// clock with SIGEV_THREAD_ID. Both only tick while the thread runs, so a thread blocked in
// poll/select/sleep is never interrupted by them. `wall` = the same timers on CLOCK_MONOTONIC:
// waiting threads are sampled too (to charge GPU energy to the code that waits on the GPU), at
// the price that a C call blocked in poll/select/nanosleep can see EINTR (Python's own calls
// retry, PEP 475); so it is never chosen unless asked for or a GPU is metered.
#pragma once

#include <setjmp.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "ring.h"

namespace pyprof {

enum class Engine { Perf, Timer, Wall };

class Sampler {
 public:
  static constexpr int kMaxThreads = 4096;

  // Install the handler (once per process) and set the period; arms nothing.
  void configure(Engine engine, uint64_t period_ns, SampleRing* ring);
  Engine engine() const { return engine_; }
  void set_engine(Engine e) { engine_ = e; }
  int signal_number() const { return signo_; }

  // Start sampling thread `tid` (any thread of this process). 0 on success, else errno with
  // a message in *err. Called only from one thread at a time (the collector, or start/stop).
  int arm(int32_t tid, std::string* err);
  void disarm(int32_t tid);
  void disarm_all();

  void set_active(bool on) { active_.store(on, std::memory_order_release); }
  bool in_forked_child() const { return forked_child_; }
  // A forked child that profiles itself (its collector was reset): sampling may start again.
  void reset_after_fork() { forked_child_ = false; }

  uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }
  uint64_t lost_cpu_ns() const { return lost_cpu_ns_.load(std::memory_order_relaxed); }
  uint64_t handler_ns() const { return handler_ns_.load(std::memory_order_relaxed); }
  uint64_t signals() const { return signals_.load(std::memory_order_relaxed); }
  uint64_t unreadable() const { return unreadable_.load(std::memory_order_relaxed); }

 private:
  struct ThreadSlot {
    std::atomic<int32_t> tid;          // 0 = never used, -1 = free again
    std::atomic<uint64_t> last_cpu_ns; // thread CPU time at its previous sample
    int fd;                            // perf engine
    timer_t timer;                     // timer engine
    bool has_timer;
    sigjmp_buf* guard;                 // set while this thread's handler walks frames
    volatile sig_atomic_t walking;
  };
  static void on_signal(int, siginfo_t*, void*);
  static void on_fault(int, siginfo_t*, void*);
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
  std::atomic<uint64_t> lost_{0}, lost_cpu_ns_{0}, handler_ns_{0}, signals_{0}, unreadable_{0};
  ThreadSlot slots_[kMaxThreads] = {};
};

extern Sampler g_sampler;  // process-wide: signal dispositions are process-wide

uint64_t monotonic_ns();
uint64_t thread_cpu_ns(int32_t tid);  // any thread of this process

}  // namespace pyprof

// The observer engine: sampling without interrupting the program.
//
// The signal engines stop each sampled thread for a signal delivery (16-124 µs in a VM,
// benchmarks/signal_floor.py): at 10 kHz that costs the program a third of its speed. The observer
// instead runs in the collector thread (no GIL, every signal blocked) and, every period of wall
// time, reads the frame chain of every Python thread of the interpreter from outside, as py-spy
// --nonblocking does from another process: the program's threads are never stopped, and on a
// machine with a free core they pay nothing.
//
// What it reads is being changed under it:
//   - thread states are listed with PyInterpreterState_ThreadHead/PyThreadState_Next without the
//     lock that guards the list (a thread can be deleting its state), and the frame chains with the
//     version's walk_frames (pyframes.h) while the thread runs. Every read happens inside
//     run_guarded (sampler.h): a fault on freed memory returns an error instead of killing;
//     plausible_code rejects pointers that are not live code objects;
//   - a chain read while the thread calls or returns can mix two stacks ("torn"). So each read is
//     checked by a second one and kept only if that confirms it (the same frames from the root
//     up, instruction offsets included, except that the innermost function may have returned,
//     called one more or been replaced: observer.cpp, confirms()); otherwise read again, up to
//     kReads times. A stack never confirmed is recorded as unreadable (the `-2` root, "[stack
//     changing]") and counted in torn();
//   - a code object read this way may die before the collector resolves it. The sample's ring cell
//     is reserved before the first read and committed after the last: the collector's code-death
//     hook waits for every cell reserved before it looked (ring.h, reserved_end), exactly as it
//     waits for a signal handler in flight, so a code pointer in a committed sample was alive when
//     its death hook ran or is resolved by it.
// Each sample's weight is the thread's CPU time since its previous sample (its CPU clock,
// through the sampler's per-thread bookkeeping: the same arm/disarm as the signal engines), so the
// shares stay right whatever rate the collector thread achieves, up to kMaxPeriods periods (see
// observe()). A thread that used no CPU since its last sample is not sampled. What the observer cannot see: the CPU number a thread ran on
// (recorded as -1), whether it was inside a native library's call (in_native is 0), and threads
// that never ran Python (no thread state, so no samples; a BLAS pool's CPU time stays unattributed).
#pragma once

#include <atomic>
#include <cstdint>

#include "ring.h"

namespace pyprof {

class Observer {
 public:
  static constexpr int kReads = 4;           // reads of one stack before it counts as torn
  static constexpr int kMaxThreads = 1024;   // thread states looked at per round
  static constexpr uint64_t kMaxPeriods = 2;  // the most CPU time one sample carries, in periods

  // GIL held: the interpreter whose threads are observed (the one that starts the collector).
  void configure(void* interp, SampleRing* ring, uint64_t period_ns);
  // Collector thread: one round, a sample of every armed Python thread (not `self_tid`) that ran
  // since its previous sample.
  void observe(int32_t self_tid);

  uint64_t rounds() const { return rounds_.load(std::memory_order_relaxed); }
  uint64_t torn() const { return torn_.load(std::memory_order_relaxed); }
  uint64_t rereads() const { return rereads_.load(std::memory_order_relaxed); }
  uint64_t late_cpu_ns() const { return late_cpu_ns_.load(std::memory_order_relaxed); }

  struct Found {
    void* ts;  // PyThreadState*
    int32_t tid;
  };

 private:
  void* interp_ = nullptr;  // PyInterpreterState*
  SampleRing* ring_ = nullptr;
  uint64_t period_ns_ = 1000000;
  std::atomic<uint64_t> rounds_{0}, torn_{0}, rereads_{0}, late_cpu_ns_{0};
  // Scratch of observe() (the collector thread only; members, not thread_local: static TLS is
  // scarce in a dlopen'ed module): the thread states of a round, and the second read of a stack.
  Found found_[kMaxThreads];
  FrameRef scratch_[kMaxDepth];
};

}  // namespace pyprof

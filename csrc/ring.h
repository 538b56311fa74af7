// Bounded lock-free ring of stack samples: many producers (signal handlers on any thread), one
// consumer (the collector, under its mutex). Vyukov's bounded MPMC queue, restricted to one consumer.
//
// Signal-safety contract: push() is async-signal-safe. It touches only preallocated memory and
// lock-free std::atomic<uint64_t> (always lock-free on x86-64 and aarch64; asserted below). It never
// blocks: when the ring is full the sample is dropped and counted, so a stalled collector cannot
// stall the profiled program.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace pyprof {

constexpr int kMaxDepth = 256;  // deeper stacks keep their leaf-most frames and are marked truncated

// Sample::truncated: how the frame walk ended.
constexpr uint8_t kWhole = 0;   // at the thread's first frame
constexpr uint8_t kDeeper = 1;  // deeper than kMaxDepth: the leaf-most frames are kept
constexpr uint8_t kBroken = 2;  // the chain could not be read (a fault, or a frame that is not a
                                // live code object's): the frames read until then are kept

struct FrameRef {
  void* code;      // PyCodeObject*, alive at sample time (the frame held a strong reference)
  int32_t lasti;   // byte offset of the current instruction, -1 if not started
  int32_t pad;
};

struct Sample {
  uint64_t t_ns;     // CLOCK_MONOTONIC
  uint64_t cpu_ns;   // thread CPU time since this thread's previous sample (measured)
  int32_t tid;
  int16_t cpu;       // CPU number the thread ran on
  uint16_t depth;
  uint8_t truncated;  // kWhole, kDeeper or kBroken
  uint8_t in_native;  // a Python thread interrupted outside the interpreter's code (interpreter_code.h)
  uint32_t nvcsw;     // a thread without Python: its voluntary context switches so far (it slept); else 0
  FrameRef frames[kMaxDepth];  // leaf first
};

class SampleRing {
 public:
  explicit SampleRing(size_t capacity_pow2) : mask_(capacity_pow2 - 1) {
    cells_ = static_cast<Cell*>(std::calloc(capacity_pow2, sizeof(Cell)));
    if (!cells_) throw std::bad_alloc();
    for (size_t i = 0; i <= mask_; ++i) new (&cells_[i].seq) std::atomic<uint64_t>(i);
  }
  ~SampleRing() { std::free(cells_); }
  SampleRing(const SampleRing&) = delete;
  SampleRing& operator=(const SampleRing&) = delete;

  // Producer: reserve a cell, or nullptr when full. Fill it, then commit(). Async-signal-safe.
  Sample* reserve(uint64_t* ticket) {
    uint64_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& c = cells_[pos & mask_];
      uint64_t seq = c.seq.load(std::memory_order_acquire);
      int64_t dif = static_cast<int64_t>(seq) - static_cast<int64_t>(pos);
      if (dif == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          *ticket = pos;
          return &c.sample;
        }
      } else if (dif < 0) {
        return nullptr;  // full
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }
  void commit(uint64_t ticket) { cells_[ticket & mask_].seq.store(ticket + 1, std::memory_order_release); }

  // Consumer (one at a time): the next committed sample, or nullptr. Call release() after use.
  const Sample* peek() {
    Cell& c = cells_[tail_ & mask_];
    if (c.seq.load(std::memory_order_acquire) != tail_ + 1) return nullptr;
    return &c.sample;
  }
  void release() {
    cells_[tail_ & mask_].seq.store(tail_ + mask_ + 1, std::memory_order_release);
    ++tail_;
  }
  // Consumer: every cell reserved so far, committed or not, lies before reserved_end(); the
  // consumer has taken those before consumed(). A reserved cell is being written by a handler
  // that is running now (it commits before it returns), so waiting for consumed() to reach a
  // reserved_end() taken earlier is waiting for handlers in flight, never for future samples.
  uint64_t reserved_end() const { return head_.load(std::memory_order_acquire); }
  uint64_t consumed() const { return tail_; }

  // Empty. Only where no producer can run: a forked child before it arms any thread (a cell
  // reserved by a parent's thread at fork time would otherwise stay uncommitted forever). The
  // parent's undrained cells are released as the consumer would release them: only those are
  // written, since touching all of the ring (4 KiB a cell) would copy it page by page in the child.
  void reset() {
    uint64_t head = head_.load(std::memory_order_acquire);
    for (; tail_ < head; ++tail_) cells_[tail_ & mask_].seq.store(tail_ + mask_ + 1, std::memory_order_relaxed);
  }

 private:
  struct Cell {
    std::atomic<uint64_t> seq;
    Sample sample;
  };
  static_assert(std::atomic<uint64_t>::is_always_lock_free, "the ring needs lock-free 64-bit atomics");
  Cell* cells_;
  const size_t mask_;
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) uint64_t tail_ = 0;
};

}  // namespace pyprof

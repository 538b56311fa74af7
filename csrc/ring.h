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

#include <sys/mman.h>

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
  // The cells (4 KiB each, 16 MiB for 4096) come from an anonymous mapping and are not written
  // here: a page becomes resident when a sample first lands on it, so a short run costs what it
  // samples, not the whole ring (calloc may hand out a recycled heap block and clear it, page by
  // page). Each cell stores its Vyukov sequence number minus its index (seq_of, set_seq), so
  // the mapping's zeros are already the initial state seq(i) = i.
  explicit SampleRing(size_t capacity_pow2) : mask_(capacity_pow2 - 1), bytes_(capacity_pow2 * sizeof(Cell)) {
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    cells_ = static_cast<Cell*>(p);
  }
  ~SampleRing() { munmap(cells_, bytes_); }
  SampleRing(const SampleRing&) = delete;
  SampleRing& operator=(const SampleRing&) = delete;

  // Producer: reserve a cell, or nullptr when full. Fill it, then commit(). Async-signal-safe.
  Sample* reserve(uint64_t* ticket) {
    uint64_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      size_t i = pos & mask_;
      uint64_t seq = seq_of(i);
      int64_t dif = static_cast<int64_t>(seq) - static_cast<int64_t>(pos);
      if (dif == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          *ticket = pos;
          return &cells_[i].sample;
        }
      } else if (dif < 0) {
        return nullptr;  // full
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }
  void commit(uint64_t ticket) { set_seq(ticket & mask_, ticket + 1, std::memory_order_release); }

  // Consumer (one at a time): the next committed sample, or nullptr. Call release() after use.
  const Sample* peek() {
    size_t i = tail_ & mask_;
    if (seq_of(i) != tail_ + 1) return nullptr;
    return &cells_[i].sample;
  }
  void release() {
    set_seq(tail_ & mask_, tail_ + mask_ + 1, std::memory_order_release);
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
    for (; tail_ < head; ++tail_) set_seq(tail_ & mask_, tail_ + mask_ + 1, std::memory_order_relaxed);
  }

 private:
  struct Cell {
    std::atomic<uint64_t> seq;  // the sequence number minus the cell's index (0 in a fresh mapping)
    Sample sample;
  };
  uint64_t seq_of(size_t i) const { return cells_[i].seq.load(std::memory_order_acquire) + i; }
  void set_seq(size_t i, uint64_t seq, std::memory_order order) { cells_[i].seq.store(seq - i, order); }
  static_assert(std::atomic<uint64_t>::is_always_lock_free, "the ring needs lock-free 64-bit atomics");
  Cell* cells_;
  const size_t mask_;
  const size_t bytes_;
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) uint64_t tail_ = 0;
};

}  // namespace pyprof

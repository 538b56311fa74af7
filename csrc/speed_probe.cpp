#include "speed_probe.h"

#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace pyprof {

// A thread's CPU time since its last probe (static TLS: no allocation in a handler).
static thread_local uint64_t tls_since_probe __attribute__((tls_model("initial-exec")));

static inline uint64_t ticks() {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
#endif
}

const char* SpeedProbe::unit() {
#if defined(__x86_64__) || defined(__i386__)
  return "tsc";
#else
  return "monotonic ns";
#endif
}

// The probe's own data (read only; its values do not matter), and where its result goes so that
// the work cannot be optimized away (handlers of several threads may store at once: atomic).
static const uint64_t g_table[512] = {1, 2, 3, 5, 8, 13, 21, 34};
static std::atomic<uint64_t> g_sink{0};

__attribute__((noinline)) static uint64_t timed_work() {
  static void* const ops[8] = {&&op0, &&op1, &&op2, &&op3, &&op4, &&op5, &&op6, &&op7};
  uint64_t r = 88172645463325252ull, acc = 0;
  int i = 0;
  // The table into L1 first, untimed: a program that sweeps the caches between probes must not
  // make the probe slower (that would read as a slow machine and hide the program's own change).
  for (int k = 0; k < 512; k += 8) acc += g_table[k];
  uint64_t t0 = ticks();
  // One dispatch point, as in a switch-based interpreter loop.
next:
  r ^= r << 13;
  r ^= r >> 7;
  r ^= r << 17;
  if (++i > SpeedProbe::kOps) goto done;
  goto* ops[r & 7];
op0: acc += r; goto next;
op1: acc ^= r >> 3; goto next;
op2: acc *= 3; goto next;
op3: acc -= uint64_t(i); goto next;
op4: acc += g_table[(r >> 20) & 511]; goto next;
op5: acc |= 1; goto next;
op6: acc = (acc << 1) | (acc >> 63); goto next;
op7: acc += 7; goto next;
done:
  uint64_t t1 = ticks();
  g_sink.store(acc, std::memory_order_relaxed);
  return t1 - t0;
}

// floor(16 * log2(x)) for x >= 1: the octave from the top bit, the 1/16 from the next four bits
// (linear within the octave; the reader takes each bucket's middle).
static int bucket(uint64_t x) {
  if (x < 2) return 0;
  int top = 63 - __builtin_clzll(x);
  uint64_t frac = top >= 4 ? (x >> (top - 4)) & 15 : (x << (4 - top)) & 15;
  int b = top * SpeedProbe::kBucketsPerOctave + int(frac);
  return b < SpeedProbe::kBuckets ? b : SpeedProbe::kBuckets - 1;
}

void SpeedProbe::after(uint64_t cpu_ns) {
  tls_since_probe += cpu_ns;
  if (tls_since_probe < kEveryCpuNs) return;
  tls_since_probe = 0;
  hist_[bucket(timed_work())].fetch_add(1, std::memory_order_relaxed);
}

uint64_t SpeedProbe::time_once() { return timed_work(); }

void SpeedProbe::reset() {
  for (auto& h : hist_) h.store(0, std::memory_order_relaxed);
}

void SpeedProbe::copy(uint32_t* out) const {
  for (int i = 0; i < kBuckets; ++i) out[i] = hist_[i].load(std::memory_order_relaxed);
}

}  // namespace pyprof

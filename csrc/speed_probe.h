// The speed probe: how fast this core runs interpreter-like code right now, measured from inside
// the sample handler so that it sees the core the program runs on.
//
// Why: on a shared machine (a VM whose host core's other hardware thread runs someone else's
// code), the same Python loop takes up to 1.8x the CPU time in a slow spell as in a fast one,
// and spells last 0.1-1 s. That noise, not sampling error, limits what `diff` can tell apart
// (docs/diff.md). A fixed piece of work timed in cycles slows in the same spells: `diff` uses
// each run's mean probe time as a covariate and removes the part of the runs' spread it explains.
//
// The work: 500 dispatches through a jump table on a fixed pseudo-random opcode sequence (each a
// mispredicted indirect branch, like an interpreter's), with loads from a 4 KiB table of its own
// that is loaded into L1 before the clock starts. So it is sensitive to what the core's other
// hardware thread does to the branch predictor and pipeline, and not to the program's own cache
// use (a program that sweeps the caches between probes would otherwise read as a slow machine and
// have its own slowdown adjusted away: benchmarks/machine_speed.py measures both). ~3 µs here,
// once per millisecond of a thread's CPU time (0.3 % of it), counted in the handler's cost.
//
// Async-signal-safe: registers, its own static table, relaxed atomic increments.
#pragma once
#include <atomic>
#include <cstdint>

namespace pyprof {

class SpeedProbe {
 public:
  static constexpr int kOps = 500;
  static constexpr uint64_t kEveryCpuNs = 1000000;  // a thread's CPU time between its probes
  // Histogram of probe times: log2(cycles) in 1/16 octaves, so that the reader can drop the few
  // probes an interrupt or the hypervisor stretched (a mean of raw cycles would keep them).
  static constexpr int kBucketsPerOctave = 16;
  static constexpr int kBuckets = 64 * kBucketsPerOctave;

  // Sample handler: the thread ran `cpu_ns` since its previous sample; probe once it has run
  // kEveryCpuNs since its last probe.
  void after(uint64_t cpu_ns);
  void reset();
  // Collector thread: the histogram (kBuckets counts) as it stands.
  void copy(uint32_t* out) const;
  // One probe, untimed by the histogram: its time (benchmarks/machine_speed.py).
  static uint64_t time_once();
  // The time source's name ("tsc" or "monotonic ns"), for the recording.
  static const char* unit();

 private:
  std::atomic<uint32_t> hist_[kBuckets] = {};
};

}  // namespace pyprof

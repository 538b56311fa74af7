// Raw counter reads for the collector's ticks: energy counters (powercap energy_uj, RAPL MSRs,
// perf `power` PMU events), machine and process CPU time, BPF map values. Semantics (units,
// wraparound, domains) live in Python (pyprof_carbon/meters, pyprof_carbon/sched); this file
// only reads, so the cadence stays precise.
#pragma once

#include <cstdint>
#include <vector>

namespace pyprof {

// Same order as SOURCE_KINDS in pyprof_carbon/counters.py.
enum class SourceKind : int {
  TextU64 = 0,
  PreadU64,
  ReadU64,
  ProcStatBusy,
  ProcessCpu,
  ProfilerCpu,
  BpfLookup,
  SchedPerfBusy,
  SchedPerfProcess,
};

struct SourceSpec {
  SourceKind kind;
  int fd;
  uint64_t offset;
  uint32_t key;
  uint32_t size;
};

constexpr uint64_t kMissing = ~uint64_t(0);  // a read that failed this tick

// State kept across the reads of one tick. Several sources are fields of one BPF map value (a
// CPU's busy, ours, last switch, what runs): one lookup per (map, key) per tick serves them all, so
// they are read together (consistent) and a tick costs one bpf() call per CPU, not one per field.
struct ReadScratch {
  std::vector<uint8_t> buf;
  int bpf_fd = -1;
  uint32_t bpf_key = 0;
  bool bpf_ok = false;
  void new_tick() { bpf_fd = -1; }
};

// Reads one source; `profiler_cpu_ns` is supplied by the collector (its thread + the handler).
uint64_t read_counter(const SourceSpec& s, uint64_t profiler_cpu_ns, ReadScratch& scratch);

}  // namespace pyprof

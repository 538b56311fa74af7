// Scheduler accounting from perf tracepoints: one group per online CPU (pid = -1): a sampling
// `sched:sched_switch` event with its own mmap'd ring (timestamps on CLOCK_MONOTONIC, so they line
// up with the collector's ticks) that reads the group with each sample, and a counting
// `sched:sched_stat_runtime` event, whose count is the runtime the scheduler accounts on that CPU
// (the per-task runtime CLOCK_PROCESS_CPUTIME_ID sums): the CPU's busy time in task clock.
// poll() drains the rings and returns cumulative busy time of the machine and on-CPU time of this
// process's threads, counting the running tasks up to `now_ns`.
//
// Why not plain switch intervals: this kernel drops tracepoint samples taken in some CPUs' idle
// task, i.e. switches *from* idle, so an interval's start can be missing. The runtime counter
// carried by every record makes the time between two records exact whatever was missed there.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace pyprof {

class SchedPerf {
 public:
  SchedPerf() = default;
  ~SchedPerf();
  SchedPerf(const SchedPerf&) = delete;
  SchedPerf& operator=(const SchedPerf&) = delete;

  // Opens and enables the per-CPU events; throws std::runtime_error with the precise reason.
  void open();
  // Drains every ring; cumulative ns since open() up to now_ns (non-decreasing between calls).
  void poll(uint64_t now_ns, uint64_t* machine_busy_ns, uint64_t* process_ns);
  uint64_t lost() const { return lost_; }       // records the kernel dropped (PERF_RECORD_LOST)
  uint64_t switches() const { return switches_; }
  // The value of a SchedPerfBusy / SchedPerfProcess source as of the last poll. `offset` selects:
  // busy: 0 busy ns, 1 lost records, 2 switches whose start was not seen; process: 0 on-CPU ns
  // (CLOCK_PROCESS_CPUTIME_ID, never below 1), 1 the same from switch records alone.
  uint64_t value(bool process, uint64_t offset) const;

  // "" when the tracepoint can be opened here, else the precise reason. `held` not null: the
  // probe's (disabled) events are not closed but handed to the caller, who keeps them open
  // while the program runs: the kernel waits for RCU grace periods (tens of ms) whenever the last
  // event of a tracepoint closes, so a probe that closed at once would pay that before the
  // program starts, and the program's own events would pay it again at its exit.
  static std::string probe(std::vector<int>* held = nullptr);

 private:
  struct Cpu {
    int cpu = -1;
    int fd = -1;      // sched_switch; owns the ring
    int fd_rt = -1;   // sched_stat_runtime, into the same ring
    void* base = nullptr;
    size_t map_len = 0;
    int32_t cur = -1;      // tid running now (0 idle, -1 not known yet)
    uint64_t since = 0;    // it runs since then
    uint64_t rt = 0;       // the CPU's runtime counter at the last switch record
    bool have_rt = false;
    uint64_t base_rt = 0;  // the counter at the first poll
    bool have_base = false;
  };
  void drain(Cpu& c);
  void on_switch(Cpu& c, uint64_t ts, uint32_t prev_tgid, uint64_t runtime, const uint8_t* raw, uint32_t raw_size);
  void visit_cpus();

  std::vector<Cpu> cpus_;
  std::vector<uint8_t> buf_;  // a record that wraps around the end of a ring
  std::unordered_map<int32_t, bool> ours_;  // tid -> belongs to this process (as last seen)
  int32_t pid_ = 0;
  uint64_t proc0_ = 0, missed_ = 0;
  uint32_t off_prev_pid_ = 24, off_next_pid_ = 56;
  uint64_t proc_ = 0;                            // this process's runtime in closed intervals
  uint64_t out_busy_ = 0, out_proc_ = 0;         // last reported (kept non-decreasing)
  uint64_t lost_ = 0, switches_ = 0;
};

}  // namespace pyprof

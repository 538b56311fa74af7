// The collector: a native thread (no GIL) that, on an absolute cadence, reads the counters, drains
// the sample ring, interns stacks, and arms the sampler on threads that appeared since last tick.
// It never waits for the GIL: the Python callbacks (on_flush, on_new_threads) run on a second
// thread of ours, the flusher (see flusher_ below).
//
// Code objects: a sample holds raw code pointers. The frame that held each one kept it alive at
// sample time, but it may be freed before the collector gets there, and its address reused. So a
// hook runs (GIL held) just before any code object is freed: it drains the ring, and if the code
// was seen, resolves its names and lines right then and retires its address. Invariant: every code
// pointer still in the intern table is alive; resolve() (GIL held, at stop) reads the rest.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "counters.h"
#include "observer.h"
#include "ring.h"
#include "sampler.h"
#include "sched_perf.h"

namespace pyprof {

struct CodeInfo {
  void* ptr;  // nullptr once retired
  bool resolved = false;
  std::string name, qualname, file;
  int firstline = 0;
  std::vector<int32_t> locs;
};

struct Location {
  int32_t code;
  int32_t lasti;
  int32_t line = -1;
};

struct ThreadInfo {
  int32_t tid;
  std::string comm;
  uint64_t first_seen_ns, last_seen_ns;
  std::string arm_error;  // why it could not be sampled, if so
  bool blocked = false;    // it blocked the sampler's signal at some scan (unsampled meanwhile)
  bool blocked_now = false;
  uint64_t blocked_cpu_ns = 0;  // its CPU time when last found blocking: armed again once it ran
};

// A process the program started through subprocess, os.posix_spawn or os.system (the audit events
// CPython raises for them), with the Python stack that started it.
struct Spawn {
  uint64_t t_ns;
  int32_t tid;
  int32_t stack;  // in the stack table
  std::string argv;
};

// A child process seen in /proc (any child: those that run Python are profiled by themselves too,
// and the profiler's side tells them apart), with its CPU time at each scan in child_cpu.
struct ChildProcess {
  int32_t pid;
  uint64_t first_seen_ns;
  std::string comm;
};

struct CollectorConfig {
  double rate_hz = 997;
  std::string engine = "auto";  // auto | perf | timer | wall | observer
  uint64_t cadence_ns = 10000000;
  std::vector<SourceSpec> sources;
  size_t ring_capacity = 4096;
};

class Collector {
 public:
  explicit Collector(CollectorConfig cfg);
  ~Collector();

  std::string start();  // GIL held; returns the engine used ("none" at rate 0); throws std::runtime_error
  void stop();          // may be called without the GIL
  void resolve();       // GIL held: names and lines of every code still alive; stops watching

  // SIGTERM with the default disposition kills a process without running Python's exit work, so
  // `run` would lose the program's samples. While profiling, a SIGTERM whose disposition was the
  // default is caught natively, unseen by the program (signal.getsignal() still says SIG_DFL; a
  // handler the program installs replaces ours, as it would replace the default); the collector thread then
  // stops sampling, takes the GIL, calls `save` (a Python callable, new reference kept) and kills
  // the process with SIGTERM, so it dies exactly as it would have. A second SIGTERM while saving
  // kills at once. Returns false when SIGTERM already had a handler (nothing installed).
  bool save_on_sigterm(struct _object* save);
  // A SIGTERM was caught that the collector thread had not acted on yet when stop() ran (the
  // program ended within one tick of it): the caller, having saved, must die of it.
  static bool term_caught();

  // Threads get their Python names after they start, and a short-lived thread's Thread object may
  // be gone by the end of the run: when a scan finds new threads, the flusher thread calls
  // `cb` (a Python callable, new reference kept) with the GIL, holding no lock of ours, so the
  // program's side can note the names of the threads it has now.
  void on_new_threads(struct _object* cb);

  // Around os.fork() (Python's before / after_in_parent fork hooks): the collector and flusher
  // threads exit and a new collector starts after the fork, so the program forks a process with
  // no thread of ours (CPython 3.12+ warns "multi-threaded, use of fork() may lead to deadlocks"
  // when the process has more than one OS thread, and a child cannot inherit a lock one held). Sampling
  // goes on meanwhile; the ring holds what the handler takes. pause_thread() without the GIL.
  void pause_thread();
  void resume_thread();
  // resume_thread() at the interpreter's next pending-call check, i.e. after os.fork() has
  // returned: 3.13 counts the process's threads after the after-fork hooks have run.
  void resume_thread_soon();

  // In a child forked by the program (Python's after_in_child hook, GIL held): forget the
  // parent's run (its samples, code table, thread table and counter sources, none of which are
  // the child's) so that start() profiles the child from its first instant. Its counter sources
  // become its own process CPU clock and profiler CPU: the machine-wide meter timeline stays
  // with the first process of the run.
  void reset_after_fork();

  // Streaming: every `every_ns` the flusher thread calls `cb` (a Python callable, new reference
  // kept) with the GIL, holding no lock of ours; `cb` calls take_results() and appends what it
  // gets to the process's stream file, so a process that dies without exit work (os._exit,
  // SIGKILL) leaves all but its last interval behind.
  void on_flush(struct _object* cb, uint64_t every_ns);

  // GIL held. Drains the ring, resolves the names and lines of every code object and location
  // seen so far, and moves into `out` what earlier calls have not returned: the new samples, stacks,
  // locations, codes and counter ticks (ids stay those of the whole run, so deltas concatenate).
  // Samples and ticks handed out are dropped here: a long run's memory stays flat.
  struct Delta {
    std::vector<uint64_t> s_t, s_cpu, tick_t, tick_raw;
    std::vector<int32_t> s_tid, s_stack;
    std::vector<int16_t> s_cpuno;
    std::vector<uint32_t> s_nvcsw;
    std::vector<uint8_t> s_native;
    std::vector<std::vector<int32_t>> stacks;
    std::vector<Location> locations;
    std::vector<const CodeInfo*> codes;  // valid until the next call
    std::vector<Spawn> spawns;
    std::vector<ChildProcess> children;
    std::vector<uint64_t> child_t, child_cpu;
    std::vector<int32_t> child_pid;
    int32_t first_stack = 0, first_location = 0, first_code = 0;
  };
  void take_results(Delta* out);

  // The ticks read so far (pyprof_carbon.current()): copies of tick_t and tick_raw taken under
  // mu_, the lock tick() appends under, so the rows are whole. GIL held (the lock order of
  // on_code_dying: GIL, then mu_; the collector thread never takes the GIL while holding mu_).
  void snapshot_ticks(std::vector<uint64_t>& t, std::vector<uint64_t>& raw);

  // Results (after stop + resolve).
  std::vector<uint64_t> s_t, s_cpu;
  std::vector<int32_t> s_tid, s_stack;
  std::vector<int16_t> s_cpuno;
  std::vector<uint32_t> s_nvcsw;
  std::vector<uint8_t> s_native;
  std::vector<std::vector<int32_t>> stacks;  // location ids, leaf first; -1 marks truncation
  std::vector<Location> locations;
  std::vector<CodeInfo> codes;
  std::vector<uint64_t> tick_t, tick_raw;  // tick_raw: ticks x sources, row-major
  std::vector<ThreadInfo> threads;
  std::vector<Spawn> spawns;
  std::vector<ChildProcess> children;
  std::vector<uint64_t> child_t, child_cpu;  // CPU time (utime+stime+cutime+cstime, ns) of child_pid
  std::vector<int32_t> child_pid;
  uint64_t collector_cpu_ns = 0;

  // The audit hook (GIL held, in the thread that starts a process): note its Python stack.
  void note_spawn(const std::string& argv);
  uint64_t lost() const { return g_sampler.lost(); }
  uint64_t lost_cpu_ns() const { return g_sampler.lost_cpu_ns(); }
  uint64_t handler_ns() const { return g_sampler.handler_ns(); }
  uint64_t signals() const { return g_sampler.signals(); }
  size_t nsources() const { return cfg_.sources.size(); }
  const Observer& observer() const { return observer_; }

 private:
  struct VecHash {
    size_t operator()(const std::vector<int32_t>& v) const;
  };
  struct LocKey {
    int32_t code, lasti;
    bool operator==(const LocKey& o) const { return code == o.code && lasti == o.lasti; }
  };
  struct LocHash {
    size_t operator()(const LocKey& k) const { return std::hash<uint64_t>()((uint64_t(k.code) << 32) ^ uint32_t(k.lasti)); }
  };

  static void on_code_dying(struct _object* code);  // PyObject*, GIL held
  void start_thread();
  void run();
  void hand_to_flusher(bool names, bool flush);  // collector thread
  void run_flusher();
  void join_threads();  // pause_ set or running_ cleared, both woken: the collector, then the flusher
  void note_own_cpu();  // collector thread: collector_cpu_ns from both threads' clocks
  void die_of_sigterm();  // collector thread, after a caught SIGTERM
  static void on_sigterm(int);
  void tick(bool every_source = false);
  void drain_locked();
  void scan_threads(uint64_t now);
  void scan_children(const std::unordered_set<int32_t>& tids, uint64_t now);
  int32_t intern_stack(const FrameRef* frames, int depth, uint8_t truncated);  // mu_ held
  void note_blocked(ThreadInfo& t, int arm_rc);
  int32_t intern_code(void* ptr);
  void resolve_code(CodeInfo& c);  // GIL held, c alive: names (once) and every unresolved line

  CollectorConfig cfg_;
  SampleRing ring_;
  std::mutex mu_;  // guards the intern tables and the ring's consumer side
  std::unique_ptr<std::thread> thread_;  // a pointer, so a forked child can leak it unjoined
  std::mutex wake_mu_;                   // with wake_cv_: stop() and pause_thread() wake the thread
  std::condition_variable wake_cv_;
  bool pause_ = false;                   // guarded by wake_mu_
  // The flusher: started by the collector when a callback is first due, it takes the GIL and
  // calls it, so the collector never waits for the GIL. A program's CPU-bound threads pass the GIL
  // among themselves every 5 ms and a newcomer can wait tens of ms for its turn: a collector
  // waiting that long would arm no new thread (a short-lived one went unsampled) and read no
  // counter meanwhile.
  std::unique_ptr<std::thread> flusher_;
  std::condition_variable flusher_cv_;   // with wake_mu_
  bool names_due_ = false, flush_due_ = false;  // guarded by wake_mu_
  std::atomic<int32_t> flusher_tid_{0};  // scans skip it: its work is the profiler's
  std::atomic<uint64_t> flusher_cpu_ns_{0};  // the flusher thread's CPU clock after its last call
  uint64_t collector_clock_ns_ = 0;      // the collector thread's own CPU clock at its last tick
  uint64_t collector_cpu_base_ = 0;      // CPU of the collector and flusher threads that already exited
  std::atomic<bool> running_{false};
  int32_t collector_tid_ = 0;
  int proc_task_fd_ = -1;
  uint64_t scan_every_ = 1, tick_no_ = 0;
  uint64_t stat_every_ = 1, reads_ = 0;  // /proc/stat is read every stat_every_ ticks (below)
  std::unordered_map<void*, int32_t> code_ids_;
  std::unordered_map<LocKey, int32_t, LocHash> loc_ids_;
  std::unordered_map<std::vector<int32_t>, int32_t, VecHash> stack_ids_;
  std::unordered_map<int32_t, size_t> live_threads_;  // tid -> index in threads
  std::vector<int32_t> frame_buf_;
  ReadScratch scratch_;
  bool watching_ = false;
  struct _object* term_save_ = nullptr;  // PyObject*: what save_on_sigterm() was given
  struct _object* new_threads_cb_ = nullptr;  // PyObject*: what on_new_threads() was given
  bool new_threads_ = false;  // a scan found threads not seen before (collector thread only)
  struct _object* flush_cb_ = nullptr;  // PyObject*: what on_flush() was given
  uint64_t flush_every_ns_ = 0, next_flush_ns_ = 0;
  size_t stacks_taken_ = 0, locations_taken_ = 0, codes_taken_ = 0;  // take_results() marks
  std::atomic<bool> track_children_{false};  // set by the first spawn: only then /proc is read for them
  std::unordered_map<int32_t, uint64_t> child_last_;  // child pid -> CPU ns at the last scan
  std::unique_ptr<SchedPerf> sched_perf_;  // when a source is SchedPerfBusy/SchedPerfProcess
  Observer observer_;
  bool observing_ = false;  // the observer engine: the collector thread samples every period
};

}  // namespace pyprof

#include "pyframes.h"  // first: it defines Py_BUILD_CORE before Python.h
#include "observer.h"

#include <string.h>

#include "sampler.h"

namespace pyprof {

namespace {

// The interpreter's thread states, without the lock that guards the list (run_guarded: a state
// freed under us faults or reads garbage; a garbage tid is refused by the thread's CPU clock, which
// only exists for threads of this process). Bounded: a list corrupted into a cycle ends at `max`.
struct ListThreads {
  PyInterpreterState* interp;
  Observer::Found* out;
  int n, max;
  static void run(void* p) {
    ListThreads* l = static_cast<ListThreads*>(p);
    for (PyThreadState* ts = PyInterpreterState_ThreadHead(l->interp); ts != nullptr && l->n < l->max;
         ts = PyThreadState_Next(ts)) {
      int32_t tid = native_tid(ts);
      if (tid > 0) l->out[l->n++] = Observer::Found{ts, tid};
    }
  }
};

// Whether a later read `b` of a thread's stack confirms the earlier read `a`: the same frames from
// the root up, except that the innermost function may have returned, called one more, or been
// replaced by another between the reads (a call or return of the leaf takes tens of nanoseconds,
// a read about a microsecond: code that calls small functions or resumes a generator from C
// changes its leaf between any two reads, and demanding equal reads kept those moments out,
// skewing such leaves' shares by 10-30 points). Frames below the innermost are stopped at a call,
// so their instruction offsets must match too. A read mixed from two moments of the stack
// differs deeper than that.
bool confirms(const FrameWalk& a, const FrameWalk& b) {
  if (a.mark != b.mark || a.depth - b.depth > 1 || b.depth - a.depth > 1) return false;
  int common = a.depth < b.depth ? a.depth : b.depth;
  for (int k = 0; k < common; ++k) {  // k-th frame from the root
    int ia = a.depth - 1 - k, ib = b.depth - 1 - k;
    const FrameRef& fa = a.frames[ia];
    const FrameRef& fb = b.frames[ib];
    if (ia == 0 || ib == 0) {  // the innermost frame of either read
      if (fa.code != fb.code && !(ia == 0 && ib == 0)) return false;  // replaced: only at the leaf of both
      continue;
    }
    if (fa.code != fb.code || fa.lasti != fb.lasti) return false;
  }
  return true;
}

}  // namespace

void Observer::configure(void* interp, SampleRing* ring, uint64_t period_ns) {
  interp_ = interp;
  period_ns_ = period_ns;
  late_cpu_ns_ = 0;
  ring_ = ring;
  rounds_ = 0;
  torn_ = 0;
  rereads_ = 0;
}

void Observer::observe(int32_t self_tid) {
  rounds_.fetch_add(1, std::memory_order_relaxed);
  // A program that installed its own SIGSEGV handler since the last scan (faulthandler.enable())
  // would get our faults: ours goes back on top, chaining to it, before any read.
  g_sampler.ensure_guard();
  ListThreads list{static_cast<PyInterpreterState*>(interp_), found_, 0, kMaxThreads};
  if (!run_guarded(&ListThreads::run, &list)) g_sampler.note_unreadable();  // keep those read before the fault
  for (int k = 0; k < list.n; ++k) {
    int32_t tid = found_[k].tid;
    if (tid == self_tid) continue;  // the collector thread's own state (it takes the GIL for callbacks)
    uint64_t cpu = thread_cpu_ns(tid);
    if (cpu == 0) continue;  // gone, or not a thread of ours
    uint64_t q = 0;
    // Not armed yet (the collector's next scan arms it) or not used any CPU since its last sample.
    if (!g_sampler.cpu_since_last(tid, cpu, &q) || q == 0) continue;
    // The stack seen now stands for the thread's last moments, not for CPU time it spent while
    // this thread was kept from running. On a machine with no free core the observer runs when a
    // program thread gives up its CPU (a GIL hand-over, a wait): its late samples would fall on
    // those places and carry all the time in between. A sample carries at most kMaxPeriods
    // periods; the rest is left to "CPU time no sample covers" (and counted in late_cpu_ns).
    uint64_t cap = kMaxPeriods * period_ns_;
    if (q > cap) {
      late_cpu_ns_.fetch_add(q - cap, std::memory_order_relaxed);
      q = cap;
    }
    uint64_t ticket;
    Sample* smp = ring_->reserve(&ticket);
    if (smp == nullptr) {
      g_sampler.note_lost(q);
      continue;
    }
    // The reservation must be visible before any code pointer is read: the code-death hook reads
    // reserved_end() after the object's last reference went (a store on another thread), and
    // waits for our commit only if it sees this reservation (ring.h). A full fence on both sides
    // (there: Collector::on_code_dying) orders the two store-then-load pairs.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    smp->t_ns = monotonic_ns();
    smp->cpu_ns = q;
    smp->tid = tid;
    smp->cpu = -1;  // unknown from outside the thread
    smp->in_native = 0;
    smp->nvcsw = 0;
    PyThreadState* ts = static_cast<PyThreadState*>(found_[k].ts);
    // Each read is checked by the next; the earlier of the first pair that agrees is kept (the
    // later one only confirms it).
    FrameWalk a{ts, smp->frames, 0, kWhole}, b{ts, scratch_, 0, kWhole};
    FrameWalk* prev = &a;
    FrameWalk* cur = &b;
    bool ok = run_guarded(&FrameWalk::run, prev), agreed = false;
    for (int r = 1; ok && r < kReads && !agreed; ++r) {
      if (r > 1) rereads_.fetch_add(1, std::memory_order_relaxed);
      ok = run_guarded(&FrameWalk::run, cur);
      agreed = ok && confirms(*prev, *cur);
      if (!agreed) std::swap(prev, cur);
    }
    if (agreed && prev->frames != smp->frames) memcpy(smp->frames, prev->frames, sizeof(FrameRef) * prev->depth);
    if (agreed) {
      smp->depth = uint16_t(prev->depth);
      smp->truncated = prev->mark;
      if (prev->mark == kBroken) g_sampler.note_unreadable();
    } else {
      smp->depth = 0;
      smp->truncated = kBroken;
      if (ok) torn_.fetch_add(1, std::memory_order_relaxed);
      g_sampler.note_unreadable();
    }
    ring_->commit(ticket);
  }
}

}  // namespace pyprof

// CPython frame walking and code-object lifetime, quarantined per version.
//
// Each supported CPython has its own small header, compiled against the running interpreter's own
// (internal) headers, so struct offsets are right by construction; the static_asserts pin each
// header to the versions it was written for. Everything version-specific lives in those headers:
//   walk_frames()   async-signal-safe: copies (code, instruction offset) pairs of the calling
//                   thread's frame chain, leaf first. Reads only; no allocation, locks, refcounts.
//   native_tid()    the kernel thread id of a thread state's thread (the observer engine, which
//                   reads other threads' states, needs it to read their CPU clocks).
//   watch_code_deaths() / unwatch_code_deaths()  call a function (GIL held) just before any code
//                   object is freed, so a sampled code pointer is resolved before it can dangle.
#pragma once

#define Py_BUILD_CORE 1
#include <Python.h>
#include <frameobject.h>

#include "ring.h"

namespace pyprof {
using CodeDyingFn = void (*)(PyObject* code);

// Whether p looks like a live code object. Runs inside the fault guard, so reading is safe even
// if p is garbage; what it rejects: misaligned pointers, other types, and freed memory (pymalloc
// keeps its free-list link in ob_refcnt, glibc's tcache its key over ob_type).
inline bool plausible_code(const void* p) {
  if (p == nullptr || (reinterpret_cast<uintptr_t>(p) & 7) != 0) return false;
  const PyObject* o = static_cast<const PyObject*>(p);
  return Py_TYPE(o) == &PyCode_Type && Py_REFCNT(o) > 0 && Py_REFCNT(o) < (Py_ssize_t(1) << 32);
}
}  // namespace pyprof

#if PY_VERSION_HEX >= 0x030E0000
#error "pyprof-carbon supports CPython 3.10 to 3.13: this interpreter's frame layout is not known"
#elif PY_VERSION_HEX >= 0x030D0000
#include "pyframes_313.h"
#elif PY_VERSION_HEX >= 0x030C0000
#include "pyframes_312.h"
#elif PY_VERSION_HEX >= 0x030B0000
#include "pyframes_311.h"
#elif PY_VERSION_HEX >= 0x030A0000
#include "pyframes_310.h"
#else
#error "pyprof-carbon supports CPython 3.10 to 3.13"
#endif

namespace pyprof {
// One walk_frames() call in the shape run_guarded (sampler.h) takes: the sample handler's walk of
// its own thread and the observer's reads of other threads' stacks.
struct FrameWalk {
  PyThreadState* ts;
  FrameRef* frames;
  int depth;
  uint8_t mark;
  static void run(void* p) {
    FrameWalk* w = static_cast<FrameWalk*>(p);
    w->depth = walk_frames(w->ts, w->frames, kMaxDepth, &w->mark);
  }
};
}  // namespace pyprof

// CPython 3.10: frames are PyFrameObjects linked by f_back; f_lasti counts code units.
#pragma once
#include <pthread.h>
#include <time.h>
static_assert(PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030B0000, "3.10 layout");

namespace pyprof {

inline int walk_frames(PyThreadState* ts, FrameRef* out, int max, uint8_t* mark) {
  int n = 0;
  *mark = kWhole;
  for (PyFrameObject* f = ts->frame; f != nullptr; f = f->f_back) {
    PyCodeObject* code = f->f_code;
    if (!plausible_code(code)) { *mark = kBroken; break; }  // the chain is being changed under us
    if (n == max) { *mark = kDeeper; break; }
    out[n].code = code;
    out[n].lasti = f->f_lasti < 0 ? -1 : f->f_lasti * (int)sizeof(_Py_CODEUNIT);
    ++n;
  }
  return n;
}

inline const char* code_qualname(PyCodeObject* code) { return PyUnicode_AsUTF8(code->co_name); }

// The kernel thread id of the thread that runs `ts` (observer engine, under the fault guard: ts may
// be freed under us). 3.10 keeps only pthread_self(); glibc's pthread_getcpuclockid reads the
// thread's tid from its descriptor (ESRCH once it exited) and encodes it in the clockid as the
// kernel does (~tid << 3 | 6: sampler.cpp, thread_cpu_clock), which is undone here.
inline int32_t native_tid(PyThreadState* ts) {
  clockid_t clk;
  if (ts->thread_id == 0 || pthread_getcpuclockid(pthread_t(ts->thread_id), &clk) != 0) return 0;
  return int32_t(~(int(clk) >> 3));
}

}  // namespace pyprof

#include "code_deaths_dealloc.h"

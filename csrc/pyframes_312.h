// CPython 3.12: as 3.11, plus shim frames owned by the C stack; code watchers exist.
#pragma once
#include "internal/pycore_frame.h"
static_assert(PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000, "3.12 layout");

namespace pyprof {

inline int walk_frames(PyThreadState* ts, FrameRef* out, int max, uint8_t* mark) {
  int n = 0;
  *mark = kWhole;
  if (ts->cframe == nullptr) return 0;
  for (_PyInterpreterFrame* f = ts->cframe->current_frame; f != nullptr; f = f->previous) {
    if (reinterpret_cast<uintptr_t>(f) & 7) { *mark = kBroken; break; }  // garbage pointer
    if (f->owner == FRAME_OWNED_BY_CSTACK) continue;
    PyCodeObject* code = f->f_code;
    if (!plausible_code(code)) { *mark = kBroken; break; }  // the chain is being changed under us
    if (f->owner != FRAME_OWNED_BY_GENERATOR && f->prev_instr < _PyCode_CODE(code) + code->_co_firsttraceable)
      continue;
    if (n == max) { *mark = kDeeper; break; }
    out[n].code = code;
    out[n].lasti = (int32_t)((f->prev_instr - _PyCode_CODE(code)) * (int)sizeof(_Py_CODEUNIT));
    ++n;
  }
  return n;
}

inline const char* code_qualname(PyCodeObject* code) { return PyUnicode_AsUTF8(code->co_qualname); }

// The kernel thread id of the thread that runs `ts` (observer engine, under the fault guard).
inline int32_t native_tid(PyThreadState* ts) { return int32_t(ts->native_thread_id); }

}  // namespace pyprof

#include "code_deaths_watcher.h"

// CPython 3.13: tstate->current_frame (no cframe); f_executable may be a non-code object;
// instr_ptr points at the instruction executing or about to begin.
#pragma once
#include "internal/pycore_frame.h"
static_assert(PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000, "3.13 layout");

namespace pyprof {

inline int walk_frames(PyThreadState* ts, FrameRef* out, int max, uint8_t* mark) {
  int n = 0;
  *mark = kWhole;
  for (_PyInterpreterFrame* f = ts->current_frame; f != nullptr; f = f->previous) {
    if (reinterpret_cast<uintptr_t>(f) & 7) { *mark = kBroken; break; }  // garbage pointer
    if (f->owner == FRAME_OWNED_BY_CSTACK) continue;
    PyObject* exe = f->f_executable;
    if (!plausible_code(exe)) { *mark = kBroken; break; }  // the chain is being changed under us
    PyCodeObject* code = (PyCodeObject*)exe;
    if (f->owner != FRAME_OWNED_BY_GENERATOR && f->instr_ptr < _PyCode_CODE(code) + code->_co_firsttraceable)
      continue;
    if (n == max) { *mark = kDeeper; break; }
    out[n].code = code;
    out[n].lasti = (int32_t)((f->instr_ptr - _PyCode_CODE(code)) * (int)sizeof(_Py_CODEUNIT));
    ++n;
  }
  return n;
}

inline const char* code_qualname(PyCodeObject* code) { return PyUnicode_AsUTF8(code->co_qualname); }

// The kernel thread id of the thread that runs `ts` (observer engine, under the fault guard).
inline int32_t native_tid(PyThreadState* ts) { return int32_t(ts->native_thread_id); }

}  // namespace pyprof

#include "code_deaths_watcher.h"

// CPython 3.10: frames are PyFrameObjects linked by f_back; f_lasti counts code units.
#pragma once
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

}  // namespace pyprof

#include "code_deaths_dealloc.h"

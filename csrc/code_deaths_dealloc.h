// Code-object deaths before CPython 3.12, which has no code watchers: interpose PyCode_Type's
// deallocator. Swapped with the GIL held; the interposer stays installed once set (a code object
// may be mid-dealloc inside it), it only stops calling out.
#pragma once

namespace pyprof {
namespace detail {
inline CodeDyingFn g_code_dying = nullptr;
inline destructor g_orig_code_dealloc = nullptr;
inline void code_dealloc_hook(PyObject* code) {
  if (g_code_dying) g_code_dying(code);
  g_orig_code_dealloc(code);
}
}  // namespace detail

inline bool watch_code_deaths(CodeDyingFn fn) {
  if (detail::g_orig_code_dealloc == nullptr) {
    detail::g_orig_code_dealloc = PyCode_Type.tp_dealloc;
    PyCode_Type.tp_dealloc = detail::code_dealloc_hook;
  }
  detail::g_code_dying = fn;
  return true;
}
inline void unwatch_code_deaths() { detail::g_code_dying = nullptr; }
}  // namespace pyprof

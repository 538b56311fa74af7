// Code-object deaths from CPython 3.12 on: the official code watchers (PyCode_AddWatcher), whose
// DESTROY event runs just before the object is freed, with the GIL held.
#pragma once

namespace pyprof {
namespace detail {
inline CodeDyingFn g_code_dying = nullptr;
inline int g_watcher_id = -1;
inline int on_code_event(PyCodeEvent event, PyCodeObject* co) {
  if (event == PY_CODE_EVENT_DESTROY && g_code_dying) g_code_dying((PyObject*)co);
  return 0;
}
}  // namespace detail

inline bool watch_code_deaths(CodeDyingFn fn) {
  detail::g_code_dying = fn;
  if (detail::g_watcher_id < 0) detail::g_watcher_id = PyCode_AddWatcher(detail::on_code_event);
  return detail::g_watcher_id >= 0;
}
inline void unwatch_code_deaths() {
  if (detail::g_watcher_id >= 0) PyCode_ClearWatcher(detail::g_watcher_id);
  detail::g_watcher_id = -1;
  detail::g_code_dying = nullptr;
}

}  // namespace pyprof

// Which instructions are the interpreter's own: the code of the python executable (or libpython),
// the C library and loader, the standard library's extension modules (lib-dynload) and ours. A
// Python thread interrupted anywhere else is inside a native library's call (numpy's matmul in
// OpenBLAS, a C++ extension): native_threads.py charges a library's pool threads to the Python
// stack of the last such sample, the call that set the pool working.
//
// The table is rebuilt by the collector thread whenever an object was loaded or unloaded
// (dl_iterate_phdr's dlpi_adds/dlpi_subs counters), into the copy the handlers are not reading;
// the index flips after the write. A handler that reads while a second rebuild overwrites its copy
// (two dlopen()s within one handler's run) can misclassify that one sample, never read out of
// bounds: the count is clamped. contains() is async-signal-safe (plain loads, no call).
#pragma once

#include <atomic>
#include <cstdint>

namespace pyprof {

class InterpreterCode {
 public:
  void refresh();                       // collector thread (or before sampling starts)
  bool contains(uintptr_t pc) const;    // any thread, signal handlers included

 private:
  static constexpr int kMaxRanges = 512;
  struct Table {
    int n;
    uintptr_t lo[kMaxRanges], hi[kMaxRanges];
  };
  Table tables_[2] = {};
  std::atomic<int> current_{0};
  unsigned long long adds_ = 0, subs_ = 0;
  bool built_ = false;
};

}  // namespace pyprof

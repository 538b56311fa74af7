#include "interpreter_code.h"

#include <link.h>
#include <stddef.h>
#include <string.h>

namespace pyprof {

// The interpreter's objects, by name: the main program (the loader names it ""), libpython, the C
// library, its loader and companions, the vDSO, the standard library's extension modules, ours.
static bool is_interpreter(const char* path) {
  if (path == nullptr || path[0] == '\0') return true;
  if (strstr(path, "/lib-dynload/") != nullptr || strstr(path, "/pyprof_carbon/_native") != nullptr) return true;
  const char* base = strrchr(path, '/');
  base = base ? base + 1 : path;
  static const char* const kPrefixes[] = {"libpython", "libc.so", "libm.so", "ld-linux", "linux-vdso",
                                          "libpthread", "libdl.", "librt.", "libutil."};
  for (const char* p : kPrefixes)
    if (strncmp(base, p, strlen(p)) == 0) return true;
  return false;
}

namespace {
struct Walk {
  unsigned long long adds = 0, subs = 0;
  bool counted = false;
  int n = 0;
  uintptr_t* lo;
  uintptr_t* hi;
  int cap;
};
}  // namespace

static int count_objects(dl_phdr_info* info, size_t size, void* data) {
  Walk* w = static_cast<Walk*>(data);
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
    w->adds = info->dlpi_adds;
    w->subs = info->dlpi_subs;
    w->counted = true;
  }
  return 1;  // the counters are the same in every entry: the first is enough
}

static int add_ranges(dl_phdr_info* info, size_t, void* data) {
  Walk* w = static_cast<Walk*>(data);
  if (!is_interpreter(info->dlpi_name)) return 0;
  for (int i = 0; i < info->dlpi_phnum && w->n < w->cap; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    w->lo[w->n] = uintptr_t(info->dlpi_addr + ph.p_vaddr);
    w->hi[w->n] = uintptr_t(info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
    ++w->n;
  }
  return 0;
}

void InterpreterCode::refresh() {
  Walk w;
  dl_iterate_phdr(count_objects, &w);
  if (built_ && w.counted && w.adds == adds_ && w.subs == subs_) return;  // nothing loaded since
  int next = 1 - current_.load(std::memory_order_relaxed);
  Table& t = tables_[next];
  w.lo = t.lo;
  w.hi = t.hi;
  w.cap = kMaxRanges;
  dl_iterate_phdr(add_ranges, &w);
  t.n = w.n;
  current_.store(next, std::memory_order_release);
  adds_ = w.adds;
  subs_ = w.subs;
  built_ = w.counted;  // without the counters (an old libc), rebuild at every call
}

bool InterpreterCode::contains(uintptr_t pc) const {
  const Table& t = tables_[current_.load(std::memory_order_acquire)];
  int n = t.n < kMaxRanges ? t.n : kMaxRanges;
  for (int i = 0; i < n; ++i)
    if (pc >= t.lo[i] && pc < t.hi[i]) return true;
  return false;
}

}  // namespace pyprof

#include "counters.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace pyprof {

static uint64_t parse_u64(const char* p) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(p, &end, 10);
  if (end == p || errno != 0) return kMissing;
  return uint64_t(v);
}

// /proc/stat "cpu  user nice system idle iowait irq softirq steal guest guest_nice", in USER_HZ.
static uint64_t proc_stat_busy_ns(int fd) {
  char buf[512];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 4 || strncmp(buf, "cpu ", 4) != 0) return kMissing;
  buf[n] = 0;
  char* p = buf + 4;
  uint64_t f[8] = {0};
  for (int i = 0; i < 8; ++i) {
    char* end;
    f[i] = strtoull(p, &end, 10);
    if (end == p) return kMissing;
    p = end;
  }
  uint64_t busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];  // guest time is already inside user
  static const long hz = sysconf(_SC_CLK_TCK);
  return busy * (1000000000ull / uint64_t(hz));
}

static uint64_t bpf_lookup(const SourceSpec& s, ReadScratch& scratch) {
  if (s.offset + 8 > s.size) return kMissing;
  if (scratch.bpf_fd != s.fd || scratch.bpf_key != s.key || scratch.buf.size() < s.size) {
    if (scratch.buf.size() < s.size) scratch.buf.resize(s.size);
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    uint32_t key = s.key;
    attr.map_fd = uint32_t(s.fd);
    attr.key = uint64_t(uintptr_t(&key));
    attr.value = uint64_t(uintptr_t(scratch.buf.data()));
    scratch.bpf_ok = syscall(SYS_bpf, BPF_MAP_LOOKUP_ELEM, &attr, sizeof attr) == 0;
    scratch.bpf_fd = s.fd;
    scratch.bpf_key = s.key;
  }
  if (!scratch.bpf_ok) return kMissing;
  uint64_t v;
  memcpy(&v, scratch.buf.data() + s.offset, 8);
  return v;
}

uint64_t read_counter(const SourceSpec& s, uint64_t profiler_cpu_ns, ReadScratch& scratch) {
  switch (s.kind) {
    case SourceKind::TextU64: {
      char buf[64];
      ssize_t n = pread(s.fd, buf, sizeof buf - 1, 0);
      if (n <= 0) return kMissing;
      buf[n] = 0;
      return parse_u64(buf);
    }
    case SourceKind::PreadU64: {
      uint64_t v;
      return pread(s.fd, &v, 8, off_t(s.offset)) == 8 ? v : kMissing;
    }
    case SourceKind::ReadU64: {
      uint64_t v;
      return read(s.fd, &v, 8) == 8 ? v : kMissing;
    }
    case SourceKind::ProcStatBusy:
      return proc_stat_busy_ns(s.fd);
    case SourceKind::ProcessCpu: {
      timespec ts;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
      return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
    }
    case SourceKind::ProfilerCpu:
      return profiler_cpu_ns;
    case SourceKind::BpfLookup:
      return bpf_lookup(s, scratch);
    case SourceKind::SchedPerfBusy:
    case SourceKind::SchedPerfProcess:
      return kMissing;  // filled in by the collector from its sched_switch reader
  }
  return kMissing;
}

}  // namespace pyprof

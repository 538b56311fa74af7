#include "sched_perf.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <stdexcept>

namespace pyprof {

namespace {

const char* const kTracefs[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
constexpr size_t kDataPages = 64;  // 256 KiB a CPU: ~2500 switches at ~100 bytes each

uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

std::string read_file(const std::string& path, int* err) {
  *err = 0;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return "";
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  if (n < 0) *err = errno;
  close(fd);
  return out;
}

// A tracepoint's id and the raw offsets of the fields we read, from tracefs.
struct Tracepoint {
  uint64_t id = 0;
  std::vector<uint32_t> offsets;
};

std::string find_tracepoint(const char* name, const std::vector<const char*>& fields, Tracepoint* tp) {
  std::string tried;
  for (const char* root : kTracefs) {
    std::string dir = std::string(root) + "/events/sched/" + name + "/";
    int err;
    std::string id = read_file(dir + "id", &err);
    if (err != 0) {
      tried += (tried.empty() ? "" : ", ") + dir + "id: " + strerror(err);
      continue;
    }
    tp->id = strtoull(id.c_str(), nullptr, 10);
    std::string fmt = read_file(dir + "format", &err);
    if (err != 0) return dir + "format: " + strerror(err);
    tp->offsets.clear();
    for (const char* field : fields) {
      std::string key = std::string(" ") + field + ";";
      size_t p = fmt.find(key);
      size_t o = p == std::string::npos ? p : fmt.find("offset:", p);
      if (o == std::string::npos) return dir + "format has no field " + field;
      tp->offsets.push_back(uint32_t(strtoul(fmt.c_str() + o + 7, nullptr, 10)));
    }
    return "";
  }
  return std::string("the sched:") + name + " tracepoint is not visible (" + tried +
         "); mount tracefs: mount -t tracefs nodev /sys/kernel/tracing";
}

std::string find_tracepoints(Tracepoint* sw, Tracepoint* rt) {
  std::string err = find_tracepoint("sched_switch", {"prev_pid", "next_pid"}, sw);
  if (err.empty()) err = find_tracepoint("sched_stat_runtime", {"pid", "runtime"}, rt);
  return err;
}

std::vector<int> online_cpus() {
  std::vector<int> cpus;
  int err;
  std::string s = read_file("/sys/devices/system/cpu/online", &err);
  const char* p = s.c_str();
  while (*p) {
    char* end;
    long a = strtol(p, &end, 10);
    if (end == p) break;
    long b = a;
    p = end;
    if (*p == '-') {
      b = strtol(p + 1, &end, 10);
      p = end;
    }
    for (long c = a; c <= b; ++c) cpus.push_back(int(c));
    if (*p == ',') ++p;
    else break;
  }
  if (cpus.empty()) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long c = 0; c < n; ++c) cpus.push_back(int(c));
  }
  return cpus;
}

// The group leader samples every sched_switch and reads the group with it; the member only counts
// sched_stat_runtime, whose count is the runtime it reports (__perf_count): the CPU's busy ns.
int open_event(const Tracepoint& tp, int cpu, int group_fd) {
  perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = tp.id;
  attr.disabled = 1;
  attr.use_clockid = 1;  // a group has one clock
  attr.clockid = CLOCK_MONOTONIC;
  if (group_fd < 0) {
    attr.sample_period = 1;
    attr.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_READ | PERF_SAMPLE_RAW;
    attr.read_format = PERF_FORMAT_GROUP;
    attr.wakeup_events = 1u << 30;  // nobody waits on the fd: the collector polls the ring
  }
  return int(syscall(SYS_perf_event_open, &attr, -1, cpu, group_fd, PERF_FLAG_FD_CLOEXEC));
}

std::string paranoid_hint() {
  int err;
  std::string p = read_file("/proc/sys/kernel/perf_event_paranoid", &err);
  while (!p.empty() && (p.back() == '\n' || p.back() == ' ')) p.pop_back();
  std::string who = geteuid() == 0 ? "root" : "not root";
  return "perf_event_paranoid is " + (p.empty() ? std::string("?") : p) + " and " + who +
         ": system-wide sched_switch with raw data needs CAP_PERFMON (or root) or perf_event_paranoid <= -1";
}

}  // namespace

std::string SchedPerf::probe(std::vector<int>* held) {
  Tracepoint sw, rt;
  std::string err = find_tracepoints(&sw, &rt);
  if (!err.empty()) return err;
  std::vector<int> cpus = online_cpus();
  int cpu = cpus.empty() ? 0 : cpus[0];
  int fd = open_event(sw, cpu, -1);
  int fd_rt = fd >= 0 ? open_event(rt, cpu, fd) : -1;
  if (fd < 0 || fd_rt < 0) {
    int e = errno;
    std::string why = std::string("perf_event_open(sched:") + (fd < 0 ? "sched_switch" : "sched_stat_runtime") +
                      ") refused: " + strerror(e);
    if (e == EACCES || e == EPERM) why += " (" + paranoid_hint() + ")";
    if (fd >= 0) close(fd);
    return why;
  }
  if (held) {
    held->push_back(fd_rt);  // the group's member first: the leader closes last
    held->push_back(fd);
    return "";
  }
  close(fd_rt);
  close(fd);
  return "";
}

SchedPerf::~SchedPerf() {
  for (Cpu& c : cpus_) {
    if (c.base) munmap(c.base, c.map_len);
    if (c.fd >= 0) close(c.fd);
    if (c.fd_rt >= 0) close(c.fd_rt);
  }
}

void SchedPerf::open() {
  Tracepoint tp, rt;
  std::string err = find_tracepoints(&tp, &rt);
  if (!err.empty()) throw std::runtime_error(err);
  off_prev_pid_ = tp.offsets[0];
  off_next_pid_ = tp.offsets[1];
  pid_ = int32_t(getpid());
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] >= '0' && e->d_name[0] <= '9') ours_[int32_t(atoi(e->d_name))] = true;
    closedir(d);
  }
  long page = sysconf(_SC_PAGESIZE);
  for (int cpu : online_cpus()) {
    Cpu c;
    c.cpu = cpu;
    c.fd = open_event(tp, cpu, -1);
    if (c.fd >= 0) c.fd_rt = open_event(rt, cpu, c.fd);  // a group: enabled together
    if (c.fd < 0 || c.fd_rt < 0) {
      int e = errno;
      std::string why = std::string("perf_event_open(sched:") + (c.fd < 0 ? "sched_switch" : "sched_stat_runtime") +
                        ", cpu " + std::to_string(cpu) + ") refused: " + strerror(e);
      if (e == EACCES || e == EPERM) why += " (" + paranoid_hint() + ")";
      cpus_.push_back(c);  // closed by the destructor
      throw std::runtime_error(why);
    }
    for (size_t pages = kDataPages; pages >= 4; pages /= 2) {  // smaller when the mlock limit bites
      c.map_len = size_t(page) * (pages + 1);
      void* p = mmap(nullptr, c.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, c.fd, 0);
      if (p != MAP_FAILED) {
        c.base = p;
        break;
      }
      if (errno != EPERM && errno != ENOMEM) break;
    }
    cpus_.push_back(c);
    if (!cpus_.back().base)
      throw std::runtime_error("mmap of the sched_switch ring for cpu " + std::to_string(cpu) + " failed: " +
                               strerror(errno) + " (perf_event_mlock_kb too small?)");
  }
  for (Cpu& c : cpus_) {
    if (ioctl(c.fd, PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP) != 0)
      throw std::runtime_error("enabling sched_switch on cpu " + std::to_string(c.cpu) + " failed: " + strerror(errno));
    c.since = mono_ns();
  }
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  proc0_ = uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
  visit_cpus();
}

// Until a CPU switches, what runs there is unknown and its time is only counted at that switch.
// Moving this thread over every CPU makes each one switch now (to us, then away), so every CPU
// is known from the first tick on. The thread's affinity is restored; CPUs it may not use are
// skipped (their first switch settles them a little later).
void SchedPerf::visit_cpus() {
  cpu_set_t old;
  if (sched_getaffinity(0, sizeof old, &old) != 0) return;
  for (const Cpu& c : cpus_) {
    if (!CPU_ISSET(c.cpu, &old)) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(c.cpu, &one);
    sched_setaffinity(0, sizeof one, &one);
  }
  sched_setaffinity(0, sizeof old, &old);
}

// A switch on CPU c at ts, with the CPU's runtime counter then. The runtime counted since the
// previous record is prev's (idle adds none), so it is exact even when a record is missing: this
// kernel drops tracepoint samples taken in some CPUs' idle task (switches *from* idle).
void SchedPerf::on_switch(Cpu& c, uint64_t ts, uint32_t prev_tgid, uint64_t runtime, const uint8_t* raw,
                          uint32_t raw_size) {
  if (raw_size < off_next_pid_ + 4 || raw_size < off_prev_pid_ + 4) return;
  int32_t prev, next;
  memcpy(&prev, raw + off_prev_pid_, 4);
  memcpy(&next, raw + off_next_pid_, 4);
  ++switches_;
  if (c.cur >= 0 && prev != c.cur) ++missed_;  // a switch we were not told about
  if (prev > 0) {
    ours_[prev] = int32_t(prev_tgid) == pid_;
    if (c.have_rt && runtime > c.rt && int32_t(prev_tgid) == pid_) proc_ += runtime - c.rt;
  }
  c.rt = runtime;
  c.have_rt = true;
  c.cur = next;
  c.since = ts;
}

void SchedPerf::drain(Cpu& c) {
  auto* meta = static_cast<perf_event_mmap_page*>(c.base);
  uint8_t* data = static_cast<uint8_t*>(c.base) + meta->data_offset;
  uint64_t size = meta->data_size;
  uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
  uint64_t tail = meta->data_tail;
  while (tail + sizeof(perf_event_header) <= head) {
    perf_event_header hdr;
    uint64_t off = tail % size;
    if (off + sizeof hdr <= size) {
      memcpy(&hdr, data + off, sizeof hdr);
    } else {
      size_t first = size_t(size - off);
      memcpy(&hdr, data + off, first);
      memcpy(reinterpret_cast<uint8_t*>(&hdr) + first, data, sizeof hdr - first);
    }
    if (hdr.size < sizeof hdr || tail + hdr.size > head) break;
    const uint8_t* rec;
    if (off + hdr.size <= size) {
      rec = data + off;
    } else {  // wraps around the end of the ring
      buf_.resize(hdr.size);
      size_t first = size_t(size - off);
      memcpy(buf_.data(), data + off, first);
      memcpy(buf_.data() + first, data, hdr.size - first);
      rec = buf_.data();
    }
    const uint8_t* p = rec + sizeof hdr;
    if (hdr.type == PERF_RECORD_SAMPLE && hdr.size >= sizeof hdr + 48) {
      // TID: u32 pid, tid; TIME: u64; CPU: u32 cpu, res; READ (group): u64 nr, u64 values[nr];
      // RAW: u32 size, data
      uint32_t pid, raw_size;
      uint64_t ts, nr, runtime = 0;
      memcpy(&pid, p, 4);
      memcpy(&ts, p + 8, 8);
      memcpy(&nr, p + 24, 8);
      size_t at = 32 + 8 * size_t(nr);
      if (nr == 2 && at + 4 <= size_t(hdr.size) - sizeof hdr) {
        memcpy(&runtime, p + 40, 8);
        memcpy(&raw_size, p + at, 4);
        if (at + 4 + size_t(raw_size) <= size_t(hdr.size) - sizeof hdr) on_switch(c, ts, pid, runtime, p + at + 4, raw_size);
      }
    } else if (hdr.type == PERF_RECORD_LOST && hdr.size >= sizeof hdr + 16) {
      uint64_t n;
      memcpy(&n, p + 8, 8);
      lost_ += n;
      // The next switch's prev is then charged all of [last_ts, ts): the best guess left.
    }
    tail += hdr.size;
  }
  __atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
}

void SchedPerf::poll(uint64_t now_ns, uint64_t* machine_busy_ns, uint64_t* process_ns) {
  for (Cpu& c : cpus_) drain(c);
  uint64_t busy = 0;
  for (Cpu& c : cpus_) {
    // Two lower bounds of the CPU's busy time now: its runtime counter (the scheduler accounts the
    // running task at each tick and switch), and the counter at the last switch plus the time
    // since, when a task runs there. The larger is within a tick of the truth, exact when the
    // last switch was seen.
    uint64_t counted = 0;
    if (read(c.fd_rt, &counted, 8) != 8) counted = 0;
    uint64_t at_switch = c.have_rt ? c.rt : 0;
    if (c.cur > 0 && now_ns > c.since) at_switch += now_ns - c.since;
    uint64_t b = counted > at_switch ? counted : at_switch;
    if (!c.have_base) {
      c.base_rt = counted;
      c.have_base = true;
    }
    busy += b > c.base_rt ? b - c.base_rt : 0;
  }
  // This process's threads: the kernel's own sum (it accounts the running ones up to now), which
  // the switch records reproduce for the intervals they close (`proc_`).
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  uint64_t proc_clock = uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec) - proc0_;
  uint64_t proc = proc_clock > proc_ ? proc_clock : proc_;
  out_busy_ = busy > out_busy_ ? busy : out_busy_;  // never report less than before
  out_proc_ = proc > out_proc_ ? proc : out_proc_;
  if (machine_busy_ns) *machine_busy_ns = out_busy_;
  if (process_ns) *process_ns = out_proc_;
}

uint64_t SchedPerf::value(bool process, uint64_t offset) const {
  if (process) return offset == 1 ? proc_ : out_proc_;
  return offset == 1 ? lost_ : offset == 2 ? missed_ : out_busy_;
}

}  // namespace pyprof


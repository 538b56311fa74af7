// pybind11 bindings only: no policy here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <system_error>
#include <vector>

#include "collector.h"

namespace py = pybind11;
using namespace pyprof;

// Arrays leave as bytes (the caller gives them a dtype: profiler.decode_raw_results), so that
// the profiled program's process never imports numpy: a recording made by `run` is handed over
// with marshal, which every interpreter has built in.
template <typename T>
static py::bytes as_bytes(const std::vector<T>& v) {
  return py::bytes(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// What the collector has not handed out yet (Collector::take_results): `first_stack`,
// `first_location` and `first_code` say where this part's ids start, so parts concatenate.
static py::dict raw_results(Collector& c) {
  Collector::Delta r;
  c.take_results(&r);
  py::dict d;
  d["t_ns"] = as_bytes(r.s_t);
  d["cpu_ns"] = as_bytes(r.s_cpu);
  d["tid"] = as_bytes(r.s_tid);
  d["cpu"] = as_bytes(r.s_cpuno);
  d["stack"] = as_bytes(r.s_stack);
  d["nvcsw"] = as_bytes(r.s_nvcsw);  // threads without Python: voluntary switches so far
  d["native"] = as_bytes(r.s_native);  // Python threads: interrupted in a native library's code
  std::vector<int64_t> offsets{0};
  std::vector<int32_t> flat;
  for (const auto& s : r.stacks) {
    flat.insert(flat.end(), s.begin(), s.end());
    offsets.push_back(int64_t(flat.size()));
  }
  d["first_stack"] = r.first_stack;
  d["stack_offsets"] = as_bytes(offsets);
  d["stack_locs"] = as_bytes(flat);  // leaf first; -1 = deeper than MAX_DEPTH, -2 = unreadable
  std::vector<int32_t> lc, ll, lline;
  for (const auto& l : r.locations) {
    lc.push_back(l.code);
    ll.push_back(l.lasti);
    lline.push_back(l.line);
  }
  d["first_location"] = r.first_location;
  d["loc_code"] = as_bytes(lc);
  d["loc_lasti"] = as_bytes(ll);
  d["loc_line"] = as_bytes(lline);
  py::list codes;
  for (const CodeInfo* ci : r.codes) codes.append(py::make_tuple(ci->name, ci->qualname, ci->file, ci->firstline));
  d["first_code"] = r.first_code;
  d["codes"] = codes;
  py::list spawns, children;
  for (const Spawn& s : r.spawns) spawns.append(py::make_tuple(s.t_ns, s.tid, s.stack, s.argv));
  for (const ChildProcess& ch : r.children) children.append(py::make_tuple(ch.pid, ch.first_seen_ns, ch.comm));
  d["spawns"] = spawns;      // (t_ns, tid, stack id, command line) per process started by subprocess & co.
  d["children"] = children;  // (pid, first seen ns, comm) per child process seen in /proc
  d["child_t_ns"] = as_bytes(r.child_t);
  d["child_pid"] = as_bytes(r.child_pid);
  d["child_cpu_ns"] = as_bytes(r.child_cpu);
  d["nsources"] = c.nsources();
  d["tick_t_ns"] = as_bytes(r.tick_t);
  d["tick_raw"] = as_bytes(r.tick_raw);  // ticks x sources, row-major
  py::list threads;
  for (const auto& t : c.threads) {
    py::dict td;
    td["tid"] = t.tid;
    td["comm"] = t.comm;
    td["first_seen_ns"] = t.first_seen_ns;
    td["last_seen_ns"] = t.last_seen_ns;
    td["arm_error"] = t.arm_error;
    td["blocked"] = t.blocked;  // it blocked the sampler's signal at some scan: unsampled then
    threads.append(td);
  }
  d["threads"] = threads;
  py::dict stats;
  stats["lost"] = c.lost();
  stats["lost_cpu_ns"] = c.lost_cpu_ns();
  stats["handler_ns"] = c.handler_ns();
  {
    uint32_t hist[SpeedProbe::kBuckets];
    g_sampler.probe().copy(hist);
    stats["probe_hist"] = py::bytes(reinterpret_cast<const char*>(hist), sizeof hist);  // uint32 per bucket
    stats["probe_unit"] = SpeedProbe::unit();
  }
  stats["signals"] = c.signals();
  stats["unreadable"] = g_sampler.unreadable();  // torn observer samples included
  stats["torn"] = c.observer().torn();            // observer: stacks whose reads never agreed
  stats["rereads"] = c.observer().rereads();      // observer: reads past the second of one stack
  stats["rounds"] = c.observer().rounds();        // observer: times it looked at every thread
  stats["late_cpu_ns"] = c.observer().late_cpu_ns();  // observer: CPU past what one sample carries
  stats["collector_cpu_ns"] = c.collector_cpu_ns;
  stats["signal"] = g_sampler.signal_number();           // the real-time signal sampling used
  stats["starved"] = g_sampler.starved();                // why sampling stopped for the process, or ""
  stats["sigio"] = g_sampler.sigio();                    // kernel SIGIOs: a signal could not be queued
  stats["rate_halvings"] = g_sampler.rate_halvings();    // times the rate was halved after SIGIO
  stats["final_period_ns"] = g_sampler.period_ns();
  stats["fds_rearmed"] = g_sampler.fds_rearmed();        // perf fds the program closed, armed anew
  stats["guard_reinstalled"] = g_sampler.guard_reinstalled();  // SIGSEGV/SIGBUS guard put back
  d["stats"] = stats;
  return d;
}

// Whether a per-thread task-clock perf event can be opened here ("" when it can).
static std::string probe_perf() {
  perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  attr.disabled = 1;
  attr.exclude_kernel = 1;  // as the sampler opens it
  attr.exclude_hv = 1;
  int fd = int(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) return std::string("perf_event_open(task-clock) refused: ") + strerror(errno);
  close(fd);
  return "";
}

// One message from a SOCK_SEQPACKET socket, with the descriptors sent along (SCM_RIGHTS, received
// close-on-exec): `run`'s set-up of a program started before its counters were open
// (runner.Child.configure). The program's bootstrap calls this: its process must not import the
// socket module for it. (payload, [fds]); None at end of file (the profiler gave up on the run).
static py::object receive_setup(int fd) {
  std::vector<char> data;
  std::vector<int> fds;
  ssize_t n;
  int err = 0;
  bool truncated = false;
  {
    py::gil_scoped_release nogil;
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 253)];  // SCM_MAX_FD: the most one message carries
    while (true) {
      // the message's length first (MSG_TRUNC reports it whole), then the message itself
      char probe;
      iovec pv{&probe, 1};
      msghdr ph{};
      ph.msg_iov = &pv;
      ph.msg_iovlen = 1;
      n = recvmsg(fd, &ph, MSG_PEEK | MSG_TRUNC);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = errno;
        break;
      }
      data.resize(size_t(n));
      iovec iov{data.data(), data.size()};
      msghdr h{};
      h.msg_iov = &iov;
      h.msg_iovlen = 1;
      h.msg_control = cbuf;
      h.msg_controllen = sizeof cbuf;
      n = recvmsg(fd, &h, MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      truncated = n > 0 && (h.msg_flags & (MSG_CTRUNC | MSG_TRUNC));
      if (n > 0) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
          if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
          size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          const int* p = reinterpret_cast<const int*>(CMSG_DATA(c));
          fds.insert(fds.end(), p, p + k);
        }
      }
      if (n < 0) err = errno;
      break;
    }
  }
  if (n < 0) throw std::system_error(err, std::generic_category(), "receiving the run's set-up");
  if (truncated) throw std::runtime_error("the run's set-up arrived truncated");
  if (n == 0) return py::none();
  return py::make_tuple(py::bytes(data.data(), data.size()), fds);
}

// zlib's CRC-32 (reflected 0xEDB88320), a table per byte: the program's process does not import
// zlib for the stream's checksums (zlib.crc32 would also release the GIL on a chunk over 5 KiB).
static uint32_t crc32_of(const unsigned char* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) crc = (crc >> 8) ^ table[(crc ^ p[i]) & 0xFFu];
  return crc ^ 0xFFFFFFFFu;
}

// One chunk of a process's stream (pyprof_carbon/process_stream.py has the format: magic, length,
// CRC-32, payload), written whole to `fd` if `fd` is still the stream file (`dev`, `ino`: the
// program may have closed our descriptor and opened a file of its own under its number); false,
// with nothing written, if it is not. Called by the bootstrap's flush with the GIL held, and it
// keeps it: the flusher thread took the GIL once for the flush, which forced the program's thread
// to give it up, and every call that released it (os.fstat, os.write, zlib.crc32) forced another
// switch when it was taken back: the program's main thread, CPU-bound at 997 Hz, waited for the
// GIL 92 times a second, now 36 (benchmarks/gil_handoffs.py). What it keeps the GIL through is an
// fstat and a page-cache write of a few KiB.
static bool write_chunk(int fd, uint64_t dev, uint64_t ino, py::bytes payload) {
  struct stat st;
  if (fstat(fd, &st) != 0 || uint64_t(st.st_dev) != dev || uint64_t(st.st_ino) != ino) return false;
  char* data = nullptr;
  Py_ssize_t size = 0;
  PyBytes_AsStringAndSize(payload.ptr(), &data, &size);
  uint32_t head[3] = {0, uint32_t(size), crc32_of(reinterpret_cast<const unsigned char*>(data), size_t(size))};
  memcpy(head, "PCS1", 4);  // little-endian fields: this code runs on x86-64 and aarch64 Linux
  struct iovec iov[2] = {{head, sizeof head}, {data, size_t(size)}};
  size_t left = sizeof head + size_t(size);
  int i = 0;
  while (left > 0) {
    ssize_t n = writev(fd, iov + i, 2 - i);
    if (n < 0) {
      if (errno == EINTR) continue;
      PyErr_SetFromErrno(PyExc_OSError);  // as os.write would raise it
      throw py::error_already_set();
    }
    left -= size_t(n);
    while (i < 2 && size_t(n) >= iov[i].iov_len) n -= ssize_t(iov[i++].iov_len);
    if (i < 2) {
      iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + n;
      iov[i].iov_len -= size_t(n);
    }
  }
  return true;
}

PYBIND11_MODULE(_native, m) {
  m.doc() = "pyprof-carbon native sampler and collector";
  m.attr("MAX_DEPTH") = kMaxDepth;
  m.attr("PY_VERSION_HEX") = PY_VERSION_HEX;  // the interpreter this was compiled against
  m.def("probe_perf", &probe_perf);
  m.def("time_speed_probe", &SpeedProbe::time_once);  // one speed probe's time (csrc/speed_probe.h)
  m.def("probe_sched_perf", [] { return SchedPerf::probe(); });  // "" or why sched_switch cannot be read here
  m.def("hold_sched_perf", [] {  // (probe's answer, the probe's open events: the caller closes them)
    std::vector<int> held;
    std::string why = SchedPerf::probe(&held);
    return py::make_tuple(why, held);
  });
  m.def("monotonic_ns", &monotonic_ns);
  m.def("receive_setup", &receive_setup);
  // The program's bootstrap: SIGKILL when `parent` (the profiler) dies; false when it has died
  // already. Set here rather than in a preexec_fn of the profiler's, which would make it fork
  // instead of vfork (~8 ms before every program starts) and import ctypes; a change of user
  // clears it, so the bootstrap calls this after dropping privileges.
  m.def("die_with_parent", [](int parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    return getppid() == parent;
  });
  m.def("write_chunk", &write_chunk);
  py::class_<Collector>(m, "Collector")
      .def(py::init([](double rate_hz, std::string engine, uint64_t cadence_ns,
                       std::vector<std::tuple<int, int, uint64_t, uint32_t, uint32_t>> sources,
                       size_t ring_capacity) {
             CollectorConfig cfg;
             cfg.rate_hz = rate_hz;
             cfg.engine = engine;
             cfg.cadence_ns = cadence_ns;
             cfg.ring_capacity = ring_capacity;
             for (auto& s : sources)
               cfg.sources.push_back(SourceSpec{SourceKind(std::get<0>(s)), std::get<1>(s), std::get<2>(s),
                                                std::get<3>(s), std::get<4>(s)});
             return new Collector(std::move(cfg));
           }),
           py::arg("rate_hz"), py::arg("engine"), py::arg("cadence_ns"), py::arg("sources"),
           py::arg("ring_capacity") = 4096)
      .def("start", &Collector::start)
      .def("stop", &Collector::stop, py::call_guard<py::gil_scoped_release>())
      .def("resolve", &Collector::resolve)
      .def("raw_results", &raw_results)
      .def("snapshot", [](Collector& c) {
             std::vector<uint64_t> t, raw;
             c.snapshot_ticks(t, raw);
             return py::make_tuple(as_bytes(t), as_bytes(raw));
           },
           "(tick_t_ns, tick_raw) read so far, as bytes like raw_results(): the running totals of "
           "pyprof_carbon.current(), while the collector runs.")
      .def("pause_thread", &Collector::pause_thread, py::call_guard<py::gil_scoped_release>(),
           "Before os.fork(): the collector thread exits (sampling goes on).")
      .def("resume_thread", &Collector::resume_thread, "A new collector thread after pause_thread().")
      .def("resume_thread_soon", &Collector::resume_thread_soon,
           "After os.fork(), in the parent: a new collector thread once os.fork() has returned.")
      .def("reset_after_fork", &Collector::reset_after_fork,
           "In a forked child: forget the parent's run, so that start() profiles this process.")
      .def("on_flush", [](Collector& c, py::function cb, uint64_t every_ns) { c.on_flush(cb.ptr(), every_ns); },
           "Every `every_ns`, call `cb` with the GIL on the collector thread (it takes the results so far).")
      .def("on_new_threads", [](Collector& c, py::function cb) { c.on_new_threads(cb.ptr()); },
           "When a scan finds new threads, call `cb` with the GIL on the collector thread.")
      .def("save_on_sigterm", [](Collector& c, py::function save) { return c.save_on_sigterm(save.ptr()); },
           "Until stop(): a SIGTERM (while its disposition is the default) runs `save` with the GIL "
           "on the collector thread, then kills the process with SIGTERM as the default action would.")
      .def_static("term_caught", &Collector::term_caught,
                  "A SIGTERM was caught that sampling has not acted on (the program ended first).");
}

// pybind11 bindings only: no policy here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <linux/perf_event.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collector.h"

namespace py = pybind11;
using namespace pyprof;

// Arrays leave as bytes (the caller gives them a dtype: pyprof_carbon/native_results.py), so that
// the profiled program's process never imports numpy: a recording made by `run` is handed over
// with marshal, which every interpreter has built in.
template <typename T>
static py::bytes as_bytes(const std::vector<T>& v) {
  return py::bytes(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

static py::dict raw_results(Collector& c) {
  py::dict d;
  d["t_ns"] = as_bytes(c.s_t);
  d["cpu_ns"] = as_bytes(c.s_cpu);
  d["tid"] = as_bytes(c.s_tid);
  d["cpu"] = as_bytes(c.s_cpuno);
  d["stack"] = as_bytes(c.s_stack);
  std::vector<int64_t> offsets{0};
  std::vector<int32_t> flat;
  for (const auto& s : c.stacks) {
    flat.insert(flat.end(), s.begin(), s.end());
    offsets.push_back(int64_t(flat.size()));
  }
  d["stack_offsets"] = as_bytes(offsets);
  d["stack_locs"] = as_bytes(flat);  // leaf first; -1 = deeper than MAX_DEPTH, -2 = unreadable
  std::vector<int32_t> lc, ll, lline;
  for (const auto& l : c.locations) {
    lc.push_back(l.code);
    ll.push_back(l.lasti);
    lline.push_back(l.line);
  }
  d["loc_code"] = as_bytes(lc);
  d["loc_lasti"] = as_bytes(ll);
  d["loc_line"] = as_bytes(lline);
  py::list codes;
  for (const auto& ci : c.codes) codes.append(py::make_tuple(ci.name, ci.qualname, ci.file, ci.firstline));
  d["codes"] = codes;
  d["nsources"] = c.nsources();
  d["tick_t_ns"] = as_bytes(c.tick_t);
  d["tick_raw"] = as_bytes(c.tick_raw);  // ticks x sources, row-major
  py::list threads;
  for (const auto& t : c.threads) {
    py::dict td;
    td["tid"] = t.tid;
    td["comm"] = t.comm;
    td["first_seen_ns"] = t.first_seen_ns;
    td["last_seen_ns"] = t.last_seen_ns;
    td["arm_error"] = t.arm_error;
    threads.append(td);
  }
  d["threads"] = threads;
  py::dict stats;
  stats["lost"] = c.lost();
  stats["lost_cpu_ns"] = c.lost_cpu_ns();
  stats["handler_ns"] = c.handler_ns();
  stats["signals"] = c.signals();
  stats["unreadable"] = g_sampler.unreadable();
  stats["collector_cpu_ns"] = c.collector_cpu_ns;
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

PYBIND11_MODULE(_native, m) {
  m.doc() = "pyprof-carbon native sampler and collector";
  m.attr("MAX_DEPTH") = kMaxDepth;
  m.attr("PY_VERSION_HEX") = PY_VERSION_HEX;  // the interpreter this was compiled against
  m.def("probe_perf", &probe_perf);
  m.def("probe_sched_perf", &SchedPerf::probe);  // "" or why sched_switch cannot be read here
  m.def("monotonic_ns", &monotonic_ns);
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
      .def("on_new_threads", [](Collector& c, py::function cb) { c.on_new_threads(cb.ptr()); },
           "When a scan finds new threads, call `cb` with the GIL on the collector thread.")
      .def("save_on_sigterm", [](Collector& c, py::function save) { return c.save_on_sigterm(save.ptr()); },
           "Until stop(): a SIGTERM (while its disposition is the default) runs `save` with the GIL "
           "on the collector thread, then kills the process with SIGTERM as the default action would.");
}

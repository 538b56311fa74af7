"""The sampler's settings, one home for each: the engines the native sampler knows and the
default rate. The native module has a default of its own (csrc/collector.h); the Python side
always passes the rate, so this constant is the one that counts."""

DEFAULT_RATE = 997.0  # samples per CPU-second; prime, so sampling does not lock onto a periodic workload
# auto: perf if it works, else timer; perf: task-clock events; timer: POSIX CPU timers; wall: wall-clock timers;
# observer: no signal, the collector thread reads the other threads' stacks (csrc/observer.h)
ENGINES = ("auto", "perf", "timer", "wall", "observer")

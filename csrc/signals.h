// Signal bookkeeping for the sampler, outside any signal handler: which real-time signal is free,
// whether a thread blocks it, what the process's RLIMIT_SIGPENDING is.
//
// Nothing here is async-signal-safe (it reads /proc with stdio-free open/read, but the callers
// are the collector thread and start/stop only); the handlers themselves live in sampler.cpp,
// whose header states their contract.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cstdint>

namespace pyprof {

// Whether `sig` is free for us in this process: its disposition is the default (nobody installed
// a handler or SIG_IGN) and the calling thread does not block it. Scanning from SIGRTMAX down:
// programs and libraries that take a real-time signal by convention count up from SIGRTMIN
// (POSIX tells applications to use SIGRTMIN+n), so the top of the range is the least likely to
// be taken after we chose it.
inline int choose_free_rt_signal() {
  sigset_t blocked;
  pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
  for (int sig = SIGRTMAX; sig >= SIGRTMIN; --sig) {
    struct sigaction cur;
    if (sigaction(sig, nullptr, &cur) != 0) continue;
    if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL) continue;
    if (sigismember(&blocked, sig)) continue;
    return sig;
  }
  return 0;
}

// Thread `tid`'s blocked-signal mask from /proc/self/task/TID/status ("SigBlk:\t<16 hex digits>",
// bit n-1 for signal n). The collector reads it without the GIL and without the thread's help
// (no syscall reads another thread's mask). False if the thread is gone or the line is missing.
inline bool read_sigblk(int32_t tid, uint64_t* mask) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];  // SigBlk is in the first ~1.5 KB on every kernel since 2.6
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  const char* p = strstr(buf, "\nSigBlk:");
  if (p == nullptr) return false;
  char* end = nullptr;
  unsigned long long v = strtoull(p + 8, &end, 16);
  if (end == p + 8) return false;
  *mask = uint64_t(v);
  return true;
}

// Signals the kernel raises on the very thread that faults (a bad read, an illegal instruction, a
// seccomp trap). If that thread blocks the signal, the kernel resets it to the default action and
// the process dies with no handler run: the fault guard of the observer's reads would never catch.
// So no thread of ours blocks these, and no handler of ours defers them.
constexpr int kFaultSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGSYS};

inline bool mask_has(uint64_t mask, int sig) { return sig >= 1 && sig <= 64 && ((mask >> (sig - 1)) & 1); }

}  // namespace pyprof

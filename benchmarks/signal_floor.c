// The floor under any in-process sampler on this machine: a C busy loop with a perf task-clock
// event raising an empty signal handler at RATE per CPU-second (mode 1, what pyprof-carbon's perf
// engine does), or a POSIX CPU timer (mode 2), against no signal at all (mode 0).
// Build and run: benchmarks/signal_floor.py
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile long hits;
static void on_signal(int s, siginfo_t* i, void* u) { (void)s; (void)i; (void)u; hits++; }
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  long rate = atol(argv[1]);
  int mode = atoi(argv[2]);
  int sig = SIGRTMIN + 5;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(sig, &sa, 0);
  pid_t tid = (pid_t)syscall(SYS_gettid);
  if (mode == 1) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.sample_period = 1000000000 / rate;
    a.disabled = 1;
    a.exclude_kernel = 1;
    int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
    struct f_owner_ex o = {F_OWNER_TID, tid};
    if (fd < 0 || fcntl(fd, F_SETFL, O_ASYNC) || fcntl(fd, F_SETSIG, sig) || fcntl(fd, F_SETOWN_EX, &o) ||
        ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
      perror("perf");
      return 1;
    }
  } else if (mode == 2) {
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = sig;
    sev._sigev_un._tid = tid;
    timer_t t;
    struct itimerspec its = {{0, 1000000000 / rate}, {0, 1000000000 / rate}};
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &t) || timer_settime(t, 0, &its, 0)) {
      perror("timer");
      return 1;
    }
  }
  double t0 = now();
  volatile unsigned long x = 0;
  for (unsigned long i = 0; i < 2000000000UL; i++) x += i;
  printf("%.4f %ld\n", now() - t0, hits);
  return 0;
}

"""os.fork and multiprocessing (fork start method) while sampled: children run normally."""
import multiprocessing as mp
import os
import sys


def burn(n):
    return sum(i * i for i in range(n))


def child_task(q):
    q.put(burn(500_000))


if __name__ == "__main__":
    burn(200_000)
    pid = os.fork()
    if pid == 0:
        r = burn(500_000)
        os._exit(0 if r > 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    pid = os.fork()
    if pid == 0:  # a child that returns normally: runs the parent's atexit handlers
        burn(100_000)
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=child_task, args=(q,)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
        assert p.exitcode == 0, p.exitcode
    with ctx.Pool(2) as pool:
        assert pool.map(burn, [1000, 2000]) == [burn(1000), burn(2000)]
    burn(200_000)
    print("forks ok", len(results))

# Nothing below the script's module frame (sys._getframe depth assumptions), inspect.getfile.
import inspect
import sys


def depth():
    f, n = sys._getframe(), 0
    while f is not None:
        n, f = n + 1, f.f_back
    return n


print(depth(), inspect.getfile(depth) == __file__, inspect.stack()[0].filename == __file__)

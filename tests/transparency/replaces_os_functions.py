# A program that replaces os.replace and builtins.open for its own purposes (pyperformance's
# sphinx benchmark) still behaves as under python, and is still recorded.
import builtins
import os

os.replace = lambda src, dst: None
real_open = builtins.open


def refusing_open(*args, **kwargs):
    raise OSError("this program allows no open()")


builtins.open = refusing_open
print("replaced")

# __file__, __spec__, __loader__, __cached__, __package__, sys.argv, sys.path[0], co_filename.
# args: a --b -c
import os
import sys

print(__name__, __file__, os.path.isabs(__file__), __spec__, type(__loader__).__name__, __cached__, __package__)
print(sys.argv)
print(sys.path[0])
print(sys._getframe().f_code.co_filename)
print(sys.flags)
print(sys.warnoptions, [f[0] for f in __import__("warnings").filters])

# `-m pkgmain`: __spec__, __file__, sys.argv, sys.path[0] as python -m sets them.
import sys

print(__name__, __spec__.name, __file__, __package__, sys.argv, sys.path[0])

# warnings.warn and a traceback print the script's own path and line.
import traceback
import warnings


def f():
    warnings.warn("careful")
    try:
        1 / 0
    except ZeroDivisionError:
        traceback.print_exc()


f()

# An uncaught exception: python's traceback on stderr, exit status 1.
def fail():
    raise ValueError("on purpose")


fail()

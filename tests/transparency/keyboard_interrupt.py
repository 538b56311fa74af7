# An uncaught KeyboardInterrupt: traceback, then python dies of SIGINT.
raise KeyboardInterrupt

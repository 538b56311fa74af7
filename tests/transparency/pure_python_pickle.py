# Blocking an accelerator before importing its module works (pyperformance's pickle --pure-python).
import sys

sys.modules["_pickle"] = None
import pickle  # noqa: E402

print(pickle.Pickler.__module__, pickle.dumps is pickle._dumps)

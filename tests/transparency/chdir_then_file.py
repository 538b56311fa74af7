# A script that chdirs and then uses __file__ (absolute, as python makes it).
import os

here = os.path.dirname(__file__)
os.chdir("/")
print(os.path.exists(os.path.join(here, "chdir_then_file.py")))

# sys.exit with a message: printed to stderr, status 1.
import sys

print("before")
sys.exit("a message")

"""Text from outside (the profiled program, a recording) made safe to print on one line."""
import re

# Names come from the profiled program and the recording: a control character in one (an escape
# sequence, a newline, a carriage return) would restyle the terminal or break a row in two. They
# are shown as visible escapes instead, as are the Unicode line separators and bidi overrides.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible(text) -> str:
    """`text` with every control character written as an escape (\\x1b, \\n, \\u202e)."""
    return _INVISIBLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))

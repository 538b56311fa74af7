"""The error type for bad input: the CLI prints it as one line and exits non-zero."""


class UserError(Exception):
    """Bad input from the user (a missing file, an unknown region, a malformed recording)."""

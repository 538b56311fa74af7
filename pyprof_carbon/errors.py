"""The error type for bad input: the CLI prints it as one line and exits non-zero."""


class UserError(Exception):
    """Bad input from the user (a missing file, an unknown region, a malformed recording)."""


class Unavailable(Exception):
    """A meter or a scheduler backend that cannot work here. `reason` says precisely why, `fix`
    what would make it work (the caller decides whether that is fatal: `auto` tries the next)."""

    def __init__(self, reason: str, fix: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.fix = fix

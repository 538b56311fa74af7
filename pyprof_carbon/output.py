"""After a run or for `report`: attribute a recording and write the requested formats."""
from __future__ import annotations

import os
import sys
from typing import List, Optional, Sequence, Tuple

from .attribution import attribute
from .errors import UserError
from .profile import Profile
from .recording import Recording
from .render import renderer


def render_to(profile: Profile, fmt: str, path: Optional[str], options: dict) -> str:
    """Render one format to `path` ('-' or None: stdout). Returns where it went."""
    render, _, binary = renderer(fmt)
    if fmt in ("codecarbon-csv", "emissions.csv") and path and path != "-" and os.path.exists(path):
        options = dict(options, append_to=path)
    data = render(profile, options)
    if path is None or path == "-":
        if binary:
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return "stdout"
    try:
        with open(path, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            f.write(data)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None
    return path


def default_path(recording_path: str, fmt: str) -> str:
    _, ext, _ = renderer(fmt)
    stem = recording_path[:-len(".pcarbon")] if recording_path.endswith(".pcarbon") else recording_path
    return stem + ext


def write_outputs(rec: Recording, output: Optional[str], formats: Sequence[str], pue: float = 1.0,
                  intensity=None, policy: str = "share", options: Optional[dict] = None,
                  compare=None, split: str = "power") -> Tuple[Profile, List[str]]:
    """Save the recording (if `output`), attribute it, render each format beside it."""
    written = []
    if output:
        try:
            rec.save(output)
        except OSError as e:
            raise UserError(f"cannot write {output}: {e.strerror}") from None
        written.append(output)
    profile = attribute(rec, policy=policy, intensity=intensity, pue=pue, compare=compare, split=split)
    for fmt in formats:
        if fmt == "text":
            continue
        path = default_path(output or "pyprof-carbon.pcarbon", fmt)
        written.append(render_to(profile, fmt, path, options or {}))
    return profile, written

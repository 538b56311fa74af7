"""After a run or for `report`: attribute a recording and write the requested formats."""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple

from .attribution import attribute
from .errors import UserError
from .attributed_profile import Profile
from .recording import Recording
from .render import ALIASES, FORMATS, options_type, renderer
from .safe_write import check_output_path, write_file


def render_to(profile: Profile, fmt: str, path: Optional[str], options: Any = None) -> str:
    """Render one format to `path` ('-' or None: stdout) with its `Options` (None: the defaults).
    Returns where it went."""
    render, _, binary = renderer(fmt)
    if options is None:
        options = options_type(fmt)()
    if path is not None and path != "-":
        check_output_path(path)  # before rendering: codecarbon-csv reads what is there
    if ALIASES.get(fmt, fmt) == "codecarbon-csv" and path and path != "-" and os.path.exists(path):
        options = dataclasses.replace(options, append_to=path)  # CodeCarbon appends a row per run
    data = render(profile, options)
    if path is None or path == "-":
        if binary:
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return "stdout"
    write_file(path, data)
    return path


# Longest first, so "x.speedscope.json" loses ".speedscope.json", not just ".json".
_KNOWN_EXTS = sorted({".pcarbon", *(ext for _, ext, _ in FORMATS.values())}, key=len, reverse=True)


def default_path(base_path: str, fmt: str, recording: Optional[str] = None) -> str:
    """Where format `fmt` goes beside `base_path` (a recording, or the -o of a report with several
    formats): its known extension replaced, so `-o out.html` gives out.html and out.svg, not
    out.html.html. Never the `recording` itself (one named x.json keeps its json report apart)."""
    _, ext, _ = renderer(fmt)
    stem = next((base_path[:-len(e)] for e in _KNOWN_EXTS if base_path.endswith(e) and len(base_path) > len(e)),
                base_path)
    path = stem + ext
    if recording is not None and os.path.abspath(path) == os.path.abspath(recording):
        return base_path + ext
    return path


def write_outputs(rec: Recording, output: Optional[str], formats: Sequence[str], pue: float = 1.0,
                  intensity=None, options: Optional[Mapping[str, Any]] = None,
                  compare=None, saved: Optional[Callable[[], None]] = None,
                  attributed: bool = True) -> Tuple[Optional[Profile], List[str]]:
    """Save the recording (if `output`), attribute it with the policy and split recorded in it,
    render each format beside it. `options`: format -> its `Options` (a format not there: defaults).
    `saved`: called once the recording is on disk (or at once when there is no `output`).
    `attributed` False (no formats): the recording is only saved, and the Profile is None."""
    written = []
    if output:
        try:
            rec.save(output)
        except OSError as e:
            raise UserError(f"cannot write {output}: {e.strerror}") from None
        written.append(output)
    if saved is not None:
        saved()
    if not attributed:
        if formats:
            raise ValueError("formats are rendered from an attributed profile")
        return None, written
    profile = attribute(rec, intensity=intensity, pue=pue, compare=compare)
    for fmt in formats:
        if fmt == "text":
            continue
        path = default_path(output or "pyprof-carbon.pcarbon", fmt, recording=output)
        written.append(render_to(profile, fmt, path, (options or {}).get(fmt)))
    return profile, written

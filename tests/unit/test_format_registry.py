"""Every output format comes from one registry (render.FORMATS): the CLI's choices, the file
extensions and the renderer all follow from its entry, so a new format is one module plus one line."""
import pytest

from profile_fixtures import realistic
from pyprof_carbon.cli import build_parser, command_parser
from pyprof_carbon.output import default_path
from pyprof_carbon.render import ALIASES, FORMATS, renderer


@pytest.fixture(scope="module")
def profile():
    return realistic()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_registered_format_renders_and_is_offered(fmt, profile, tmp_path):
    render, ext, binary = renderer(fmt)
    options = {"append_to": None} if fmt == "codecarbon-csv" else {}
    out = render(profile, options)
    assert isinstance(out, bytes if binary else str) and len(out) > 0
    assert default_path(str(tmp_path / "run.pcarbon"), fmt).endswith(ext)
    for command in ("run", "report"):
        action = next(a for a in command_parser(build_parser(), command)._actions if a.dest == "formats")
        assert fmt in action.choices


def test_aliases_name_registered_formats():
    assert set(ALIASES.values()) <= set(FORMATS)

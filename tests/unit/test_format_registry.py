"""Every output format comes from one registry (render.FORMATS): the CLI's choices, the file
extensions and the renderer all follow from its entry, so a new format is one module plus one line."""
import argparse
import dataclasses

import pytest

from profile_fixtures import realistic
from pyprof_carbon.cli import build_parser, command_parser
from pyprof_carbon.output import default_path
from pyprof_carbon.render import ALIASES, FORMATS, options_from, options_type, renderer


@pytest.fixture(scope="module")
def profile():
    return realistic()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_registered_format_renders_and_is_offered(fmt, profile, tmp_path):
    render, ext, binary = renderer(fmt)
    out = render(profile, options_type(fmt)())
    assert isinstance(out, bytes if binary else str) and len(out) > 0
    assert default_path(str(tmp_path / "run.pcarbon"), fmt).endswith(ext)
    for command in ("run", "report"):
        action = next(a for a in command_parser(build_parser(), command)._actions if a.dest == "formats")
        assert fmt in action.choices


def test_aliases_name_registered_formats():
    assert set(ALIASES.values()) <= set(FORMATS)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_declares_its_options_typed_and_frozen(fmt):
    cls = options_type(fmt)
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    for f in dataclasses.fields(cls):
        assert f.default is not dataclasses.MISSING, f"{fmt} option {f.name} has no default"


def test_options_are_built_from_the_declared_arguments_only():
    """A command's parsed arguments give each format exactly the fields it declares; an argument
    left at None takes the field's default."""
    args = argparse.Namespace(title="T", width=800, lines=True, top=None, color="never", recording="x.pcarbon")
    assert options_from("svg", args) == options_type("svg")(title="T", width=800)
    assert options_from("html", args) == options_type("html")(title="T")
    text = options_from("text", args)
    assert (text.lines, text.top, text.color, text.columns) == (True, 15, "never", None)
    assert options_from("json", args) == options_type("json")()


def test_report_offers_the_svg_options():
    args = build_parser().parse_args(["report", "r.pcarbon", "--format", "svg", "--title", "T", "--width", "640"])
    assert options_from("svg", args) == options_type("svg")(title="T", width=640)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report", "r.pcarbon", "--width", "10"])

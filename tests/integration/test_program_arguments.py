"""Everything after the script or `-m module` goes to the program untouched, as with python."""
import subprocess
import sys

import pytest

from pcrun import env_for, pc
from pyprof_carbon.cli import build_parser, command_parser
from pyprof_carbon.commands.run import split_program


def run_parser():
    return command_parser(build_parser(), "run")


@pytest.mark.parametrize("argv, options, program", [
    (["-m", "pytest", "-x", "-k", "name"], [], ["-m", "pytest", "-x", "-k", "name"]),
    (["-q", "--rate", "500", "-m", "timeit", "-n", "3", "pass"], ["-q", "--rate", "500"],
     ["-m", "timeit", "-n", "3", "pass"]),
    (["-mtimeit", "pass"], [], ["-mtimeit", "pass"]),
    (["-o", "x.pcarbon", "script.py", "-o", "--rate", "1"], ["-o", "x.pcarbon"], ["script.py", "-o", "--rate", "1"]),
    (["--rate=500", "--", "script.py", "--", "a"], ["--rate=500"], ["script.py", "--", "a"]),
    (["--format", "json", "script.py"], ["--format", "json"], ["script.py"]),
])
def test_split_program(argv, options, program):
    assert split_program(run_parser(), argv) == (options, program)


def same_as_python(tmp_path, program):
    plain = subprocess.run([sys.executable, *program], cwd=str(tmp_path), env=env_for(), capture_output=True,
                           text=True, timeout=120)
    prof = pc(["run", "-q", "-o", str(tmp_path / "p.pcarbon"), *program], cwd=str(tmp_path))
    assert prof.returncode == plain.returncode, prof.stderr
    return plain, prof


def test_timeit_options(tmp_path):
    plain, prof = same_as_python(tmp_path, ["-m", "timeit", "-n", "3", "-r", "1", "pass"])
    assert "3 loops" in prof.stdout and "3 loops" in plain.stdout


def test_unittest_verbose(tmp_path):
    (tmp_path / "test_x.py").write_text("import unittest\n\nclass T(unittest.TestCase):\n"
                                        "    def test_ok(self):\n        pass\n")
    plain, prof = same_as_python(tmp_path, ["-m", "unittest", "-v", "test_x"])
    assert "test_ok (test_x.T" in prof.stderr and prof.returncode == 0


def test_pytest_options(tmp_path):
    (tmp_path / "test_y.py").write_text("def test_a():\n    pass\n\ndef test_b():\n    assert False\n")
    plain, prof = same_as_python(tmp_path, ["-m", "pytest", "-x", "-q", "-k", "test_a", "-p", "no:cacheprovider",
                                            "test_y.py"])
    assert "1 passed, 1 deselected" in prof.stdout and prof.returncode == 0


def test_options_after_the_script_are_the_programs(tmp_path):
    script = tmp_path / "argv.py"
    script.write_text("import sys\nprint(sys.argv[1:])\n")
    plain, prof = same_as_python(tmp_path, [str(script), "-q", "--rate", "5", "--", "-o"])
    assert prof.stdout == plain.stdout == "['-q', '--rate', '5', '--', '-o']\n"

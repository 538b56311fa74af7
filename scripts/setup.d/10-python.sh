#!/usr/bin/env bash
# The package in editable mode (builds the native sampler in place) with its test extras, and
# for the version matrix one venv per other installed CPython (3.10, 3.12, 3.13) with the
# sampler built for it in place; tests/pcrun.py finds them through .venv-matrix/pythons.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m pip install -q --disable-pip-version-check -e ".[test]"
mkdir -p .venv-matrix
: > .venv-matrix/pythons
main=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
for v in 3.10 3.11 3.12 3.13; do
  [ "$v" = "$main" ] && continue
  base=""
  if command -v pyenv >/dev/null 2>&1; then
    ver=$(pyenv versions --bare 2>/dev/null | grep -E "^${v//./\\.}(\.[0-9]+)?$" | tail -n 1 || true)
    [ -n "$ver" ] && base="$(pyenv root)/versions/$ver/bin/python"
  fi
  [ -z "$base" ] && base=$(command -v "python$v" || true)
  if [ -z "$base" ] || [ ! -x "$base" ]; then
    echo "setup: no CPython $v here; the matrix tests skip it"
    continue
  fi
  venv=".venv-matrix/$v"
  [ -x "$venv/bin/python" ] || "$base" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check numpy pybind11 setuptools wheel
  "$venv/bin/python" setup.py -q build_ext --inplace > "$venv/build.log" 2>&1 || { cat "$venv/build.log"; exit 1; }
  echo "$PWD/$venv/bin/python" >> .venv-matrix/pythons
done
echo "setup: matrix interpreters: $(tr '\n' ' ' < .venv-matrix/pythons)"

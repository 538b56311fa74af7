#!/usr/bin/env bash
# What the report tests need (run as root by scripts/setup.sh; idempotent and quiet):
# headless Chromium (HTML report test), Go (`go tool pprof` reads our pprof files), the
# speedscope npm package (its file-format JSON schema, into ./node_modules, which git ignores)
# and the jsonschema Python package. Tests that need a missing tool skip with the reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v go >/dev/null 2>&1 || need+=(golang-go)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
python -c "import jsonschema" 2>/dev/null || python -m pip install -q --disable-pip-version-check "jsonschema>=4"
if ! ls node_modules/speedscope/dist/release/file-format-schema.json >/dev/null 2>&1; then
  npm install --prefix "$PWD" --no-save --no-package-lock --no-audit --no-fund --loglevel=error speedscope >/dev/null
fi
echo "setup: report tools: $(chromium --version 2>/dev/null | head -n1); $(go version 2>/dev/null); speedscope schema $(ls node_modules/speedscope/dist/release/file-format-schema.json)"

#!/usr/bin/env bash
# Type-check the public API as users import it: build the wheel (folders mapped into the edgekit
# namespace), unpack it, and run mypy on the whole package there with the project's configuration.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip wheel "$root" --no-deps --no-build-isolation -q -w "$tmp" >/dev/null 2>&1
(cd "$tmp" && unzip -q edgekit-*.whl -d src)
cd "$tmp/src"
"$py" -m mypy --config-file "$root/pyproject.toml" -p edgekit

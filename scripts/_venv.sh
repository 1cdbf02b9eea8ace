# Shared by scripts/serve and scripts/test: make .venv with Python 3.11+ and install the
# project into it (with the extras named in $1) when pyproject.toml changed since.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PY="$candidate"; break; fi
  done
fi
[ -n "$PY" ] || { echo "scripts: Python 3.11 or newer is needed" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
extras="${1:-}"
stamp=".venv/.installed${extras:+-$extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # (this machine's pip configuration warns about missing mirror folders: noise, hidden)
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -e ".${extras:+[$extras]}" 2> >(grep -v "^WARNING: Location" >&2)
  touch "$stamp"
fi
# Compile the project's modules once: where PYTHONDONTWRITEBYTECODE is set, every process
# the service starts (its scoring processes, each CLI command) would compile them again.
.venv/bin/python -m compileall -q -j 0 nexio_lite >/dev/null 2>&1 || true

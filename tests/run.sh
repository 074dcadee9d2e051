#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the suite needs, starts the
# services it uses, runs lint, types and pytest. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$(deploy/dev/ensure-venv)"
export PATH="$bin:$PATH"

echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== pytest"
set +e
pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: treating as failure" >&2
    exit 1
fi
exit "$status"

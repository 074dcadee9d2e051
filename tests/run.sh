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
# Layer contracts ([tool.importlinter] in pyproject.toml): each broken one is printed with the imports that break it.
echo "== lint-imports"; lint-imports

# -- services ---------------------------------------------------------------
# PostgreSQL for the status-store tests: a private cluster on a free port, gone on exit
# (deploy/dev/postgres-local). Required in CI, where it is installed from the Debian
# packages if missing; used locally when installed; else those tests skip. An existing
# GOVCAST_TEST_PG_URL is used as it is. (Kafka is started by the tests' own fixture.)
if [ -z "${GOVCAST_TEST_PG_URL:-}" ] && { [ -n "${CI:-}" ] || deploy/dev/postgres-local installed; }; then
    echo "== postgres"
    export GOVCAST_PG_DIR="${TMPDIR:-/tmp}/govcast-pg-$$"
    trap 'deploy/dev/postgres-local stop' EXIT
    trap 'exit 143' TERM  # so the EXIT trap runs
    deploy/dev/postgres-local start
    GOVCAST_TEST_PG_URL="$(deploy/dev/postgres-local url)"
    export GOVCAST_TEST_PG_URL
fi

# Browser tests: Debian's chromium, a CJK font and axe-core (tests/browser/setup installs them in CI,
# reports what is missing elsewhere; the browser tests then skip, except in CI where they fail).
bash tests/browser/setup

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

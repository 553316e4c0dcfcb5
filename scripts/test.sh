#!/usr/bin/env bash
# Set up .venv if needed, then run the whole quality gate: ruff, mypy (strict), pytest.
source "$(dirname "$0")/_env.sh"
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy (strict)"
mypy
echo "== pytest"
pytest "$@"

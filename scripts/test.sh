#!/usr/bin/env bash
# Run the linter, the type checker and the whole test suite (sets the checkout up first if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check src tests examples bench
.venv/bin/mypy --no-error-summary
exec .venv/bin/python -m pytest -q "$@"

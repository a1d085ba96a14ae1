#!/usr/bin/env bash
# Rewrite constraints.txt from the current environment, after `make test` passed on it (CPU
# machine). The local build label of the CPU torch wheel is dropped so that the pin also matches
# PyPI's build. Usage: scripts/freeze.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
{
  echo "# The exact releases the test suite passed with on a CPU machine (Python 3.11): scripts/setup.sh"
  echo "# installs under these pins, so a fresh machine gets the environment that was tested. Regenerate"
  echo "# after an upgrade that passed \`make test\`: scripts/freeze.sh"
  "$VENV/bin/python" -m pip --disable-pip-version-check freeze --exclude-editable | sed -E 's/^(torch==[^+]+)\+.*/\1/'
} > constraints.txt
echo "freeze: $(grep -vc '^#' constraints.txt) pins written to constraints.txt"

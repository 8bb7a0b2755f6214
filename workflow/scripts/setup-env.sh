#!/usr/bin/env bash
# Create or update the project's virtual environment; safe to repeat.
#   bash workflow/scripts/setup-env.sh [EXTRAS]      (default EXTRAS: generate)
# Environment: PYTHON (interpreter, default python3), DL4HEP_VENV (default .venv),
# DL4HEP_TORCH (torch requirement installed first, default torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/../.."
extras="${1:-generate}"
python="${PYTHON:-python3}"
venv="${DL4HEP_VENV:-.venv}"
torch_req="${DL4HEP_TORCH:-torch==2.13.0}"

"$python" - <<'PY' || { echo "dl4hep needs Python >= 3.10" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

# Reinstall only when the requirements or the extras changed.
stamp="$venv/.dl4hep-install"
want="$(cat pyproject.toml | sha256sum | cut -c1-16) $extras $torch_req"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
# Torch first: a bare `torch` requirement with nothing installed pulls the
# multi-GB CUDA build; an installed torch that satisfies the range is kept.
if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
  "${pip[@]}" install -q "$torch_req"
fi
"${pip[@]}" install -q -e ".[$extras]"
echo "$want" > "$stamp"
echo "dl4hep environment ready in $venv (extras: $extras)"

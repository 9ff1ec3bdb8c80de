#!/usr/bin/env bash
# A second virtual environment with the TensorFlow of the newest TensorFlow Serving release
# (2.20), for the slow test that loads an mmlm export there (tests/serving/test_tf220_runtime.py).
#   tools/setup_tf220.sh      installs into .venv-tf220 (idempotent; fast when already done)
# It holds TensorFlow, TensorFlow Text and the tensorflow-serving-api protos only: no mmlm.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${TF220_VENV:-.venv-tf220}
# Pinned exactly; the stamp below records them, so changing a pin reinstalls.
PACKAGES=(tensorflow==2.20.0 tensorflow-text==2.20.1 tensorflow-serving-api==2.20.0)

if ! command -v "$PYTHON" >/dev/null; then
  echo "setup_tf220: $PYTHON not found (Debian: apt-get install python3.11 python3.11-venv)" >&2
  exit 1
fi
stamp="$VENV/.tf220-installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PACKAGES[*]}" ] && [ -x "$VENV/bin/python" ]; then
  echo "setup_tf220: ready ($VENV)"
  exit 0
fi
# Debian's python3.11 says which package to install if it cannot create one.
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
echo "setup_tf220: installing ${PACKAGES[*]} into $VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${PACKAGES[@]}"
# Check the versions, and that TensorFlow Text (its ops) loads.
TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" - <<'EOF'
import tensorflow as tf
import tensorflow_text

assert tf.__version__.startswith("2.20."), tf.__version__
assert tensorflow_text.__version__.startswith("2.20."), tensorflow_text.__version__
print(f"setup_tf220: tensorflow {tf.__version__}, tensorflow-text {tensorflow_text.__version__}")
EOF
echo "${PACKAGES[*]}" >"$stamp"
echo "setup_tf220: ready ($VENV)"

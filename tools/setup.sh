#!/usr/bin/env bash
# Sets up mmlm on a fresh Debian machine: system packages, a virtual environment, the package.
#   tools/setup.sh            installs into .venv (idempotent; fast when already done)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(espeak-ng apertium apertium-eng-spa fonts-dejavu-core dataset-fashion-mnist
  fonts-noto-color-emoji unicode-data libfribidi0 manpages manpages-dev)
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v "$PYTHON" >/dev/null; then
  echo "setup: $PYTHON not found; mmlm needs Python 3.11 (Debian: apt-get install python3.11 python3.11-venv)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV" || {
    echo "setup: could not create a venv; install python3.11-venv" >&2
    exit 1
  }
fi
stamp="$VENV/.mmlm-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing mmlm and its pinned dependencies into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev]"
  touch "$stamp"
fi
echo "setup: ready ($VENV)"

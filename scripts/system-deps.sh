#!/usr/bin/env bash
# System packages the test suite needs beyond Node: Chromium for the browser
# tests, PostgreSQL for the gateway's second storage driver, and Python's
# OpenVINO runtime to check exported shard graphs. Installed when missing and
# running as root; otherwise we say what is missing and the affected tests
# print why they cannot run.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[stack] installing ${missing[*]} with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "[stack] missing system packages: ${missing[*]} (install them to run every test)" >&2
  fi
fi

# OpenVINO's Python runtime (test-only): checks that exported ONNX shards load
# and agree under OpenVINO, whose Node runtime cannot be downloaded here.
if command -v python3 >/dev/null 2>&1; then
  if ! python3 -c 'import openvino, numpy' >/dev/null 2>&1; then
    echo "[stack] installing the openvino and numpy Python packages (test-only)" >&2
    python3 -m pip install --quiet --disable-pip-version-check openvino numpy ||
      echo "[stack] could not install openvino for Python; OpenVINO parity tests will say so" >&2
  fi
fi

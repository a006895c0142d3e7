#!/usr/bin/env bash
# Sets gymcast up on a fresh Debian/Ubuntu machine: Node.js (the build traces each game in Pyodide under
# Node) and a virtualenv in .venv with gymcast and what the examples need.
# With --tests it also installs what the tests need: Debian's chromium, redis-server and postgresql.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v node >/dev/null 2>&1 || packages+=(nodejs)
if [ "${1:-}" = "--tests" ]; then
  command -v chromium >/dev/null 2>&1 || packages+=(chromium)
  # Real servers for the storage and scale-out tests, started by the tests as unprivileged processes.
  command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
  { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || packages+=(postgresql)
fi
if [ ${#packages[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing ${packages[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extras="[examples]"; [ "${1:-}" = "--tests" ] && extras="[examples,test]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
echo "setup: gymcast $(.venv/bin/python -c 'import gymcast; print(gymcast.__version__)') is ready in .venv"

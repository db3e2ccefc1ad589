#!/usr/bin/env bash
# Installs everything the build and the tests need, from Debian's packages and PyPI.
# Idempotent and non-interactive: CI runs it on every clean checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config
  libcpprest-dev libboost-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev llvm-14
  python3-venv openssl curl wrk ccache
  gettext-base  # envsubst, which Plano's image runs at start-up: tests/startup/ runs the real one
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Plano's own config validator, pinned, for the conformance tests; and uv, which Plano's image
# runs at start (`uv run python -m planoai.config_generator`), for tests/startup/offline_start_test.py.
PLANOAI_VERSION=0.4.39
UV_VERSION=0.13.9
venv=.cache/venv
if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('planoai') == '$PLANOAI_VERSION' and m.version('uv') == '$UV_VERSION'" 2>/dev/null; then
  echo "setup: installing planoai==$PLANOAI_VERSION uv==$UV_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "planoai==$PLANOAI_VERSION" "uv==$UV_VERSION"
fi
echo "setup: ok"

# Sourced by the scripts: installs what building and testing kiro-edge needs on Debian.

apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing $*…" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_build_tools() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "kiro-edge needs a Rust toolchain: https://rustup.rs" >&2
    exit 1
  fi
  # Pingora builds zlib-ng with cmake.
  command -v cmake >/dev/null 2>&1 || apt_install cmake
}

ensure_test_tools() {
  # The unit-file test runs `systemd-analyze verify`.
  command -v systemd-analyze >/dev/null 2>&1 || apt_install systemd
  # The SDK tests run `$KIRO_EDGE_PYTHON` (default python3). When python3 lacks the SDKs,
  # they go into a virtualenv under target/: Debian's python3 refuses system-wide pip installs
  # (PEP 668).
  local sdk="import anthropic, openai, google.genai, pytest"
  if [ -z "${KIRO_EDGE_PYTHON:-}" ] && ! python3 -c "$sdk" >/dev/null 2>&1; then
    local venv=target/sdk-venv
    if ! "$venv/bin/python" -c "$sdk" >/dev/null 2>&1; then
      python3 -m venv --help >/dev/null 2>&1 && python3 -c "import ensurepip" >/dev/null 2>&1 \
        || apt_install python3 python3-venv python3-pip
      echo "installing the Python SDKs the tests drive the gateway with (in $venv)…" >&2
      python3 -m venv "$venv"
      "$venv/bin/python" -m pip install -q -r tests/sdk/requirements.txt
    fi
    export KIRO_EDGE_PYTHON="$PWD/$venv/bin/python"
  fi
}

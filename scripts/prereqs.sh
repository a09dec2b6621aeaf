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
  if ! python3 -c "import anthropic, openai, google.genai, pytest" >/dev/null 2>&1; then
    echo "installing the Python SDKs the tests drive the gateway with…" >&2
    python3 -m pip install -q -r tests/sdk/requirements.txt
  fi
}

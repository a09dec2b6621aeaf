# Sourced by the scripts: installs what building and testing kiro-edge needs on Debian.

ensure_build_tools() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "kiro-edge needs a Rust toolchain (https://rustup.rs): curl -sSf https://sh.rustup.rs | sh" >&2
    exit 1
  fi
  if ! command -v cmake >/dev/null 2>&1; then
    echo "installing cmake (Pingora builds zlib-ng with it)…" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq cmake >/dev/null
  fi
}

ensure_python_sdks() {
  if ! python3 -c "import anthropic, openai, google.genai, pytest" >/dev/null 2>&1; then
    echo "installing the Python SDKs the tests drive the gateway with…" >&2
    python3 -m pip install -q -r tests/sdk/requirements.txt
  fi
}

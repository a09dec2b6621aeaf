#!/usr/bin/env bash
# Runs every test: unit and property tests, end-to-end tests of the real binaries against
# kiro-mock, and the official Python SDKs (anthropic, openai, google-genai) driving a running
# gateway. Installs what is missing first (cmake for Pingora's build, the Python SDKs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
ensure_build_tools
ensure_test_tools
cargo test --all-targets "$@"

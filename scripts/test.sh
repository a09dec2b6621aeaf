#!/usr/bin/env bash
# Runs every test: unit tests, integration tests against kiro-mock, and the official Python
# SDKs (anthropic, openai, google-genai) driving a running gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets "$@"

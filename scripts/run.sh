#!/usr/bin/env bash
# Builds and starts kiro-edge on 127.0.0.1:8080.
#   ./scripts/run.sh              uses your Kiro IDE login (~/.aws/sso/cache) or -c CONFIG
#   ./scripts/run.sh -c FILE      uses a configuration file (see conf/kiro-edge.yaml)
#   ./scripts/run.sh --mock       runs against kiro-mock: try it with no Kiro account
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
ensure_build_tools
cargo build --release --bins

if [ "${1:-}" != "--mock" ]; then
  exec ./target/release/kiro-edge "$@"
fi

demo=$(mktemp -d /tmp/kiro-edge-demo.XXXXXX)
./target/release/kiro-mock --listen 127.0.0.1:8790 > "$demo/mock.log" 2>&1 &
mock_pid=$!
trap 'kill $mock_pid 2>/dev/null; rm -rf "$demo"' EXIT
cat > "$demo/credentials.json" <<JSON
[{"id": "demo", "authMethod": "social", "refreshToken": "mock-rt-demo-$(printf 'x%.0s' $(seq 120))",
  "expiresAt": "2000-01-01T00:00:00Z"}]
JSON
cat > "$demo/kiro-edge.yaml" <<YAML
version: 1
threads: 2
pid_file: $demo/kiro-edge.pid
upgrade_sock: $demo/upgrade.sock
grace_period_seconds: 1
kiro_edge:
  listen: 127.0.0.1:8080
  api_keys: [demo-key]
  credentials_file: $demo/credentials.json
  discover_local_login: false
  endpoints:
    chat: http://127.0.0.1:8790/generateAssistantResponse
    social_refresh: http://127.0.0.1:8790/refreshToken
    idc_token: http://127.0.0.1:8790/token
    usage: http://127.0.0.1:8790/getUsageLimits
    models: http://127.0.0.1:8790/ListAvailableModels
YAML
echo "kiro-edge on http://127.0.0.1:8080 (API key: demo-key) in front of kiro-mock; Ctrl-C stops both" >&2
./target/release/kiro-edge -c "$demo/kiro-edge.yaml"

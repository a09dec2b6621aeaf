#!/usr/bin/env bash
# Drives the real Claude Code, Codex CLI and Gemini CLI (installed from npm into a cache dir)
# through kiro-edge in front of kiro-mock, each for a plain prompt and a tool round trip. Every
# check prints PASS or FAIL; the script exits non-zero on any FAIL. Loopback only: each CLI is
# configured with its zero-egress settings (docs of client-protocols §5).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/prereqs.sh
ensure_build_tools
cargo build -q --bins || exit 1

clis=${KIRO_EDGE_CLI_DIR:-$HOME/.cache/kiro-edge-clis}
mkdir -p "$clis"
if [ ! -x "$clis/node_modules/.bin/codex" ]; then
  (cd "$clis" && npm install -q --no-audit --no-fund \
     @anthropic-ai/claude-code @google/gemini-cli @openai/codex >/dev/null) || exit 1
fi
bin=$clis/node_modules/.bin

work=$(mktemp -d /tmp/kiro-edge-clis.XXXXXX)
mock_port=18790; gw_port=18080
for port in $mock_port $gw_port; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port $port is in use: stop what listens there first" >&2; exit 1
  fi
done
./target/debug/kiro-mock --listen 127.0.0.1:$mock_port > "$work/mock.log" 2>&1 &
mock_pid=$!
cat > "$work/creds.json" <<JSON
[{"id": "cli", "authMethod": "social", "refreshToken": "mock-rt-cli-$(printf 'x%.0s' $(seq 120))", "expiresAt": "2000-01-01T00:00:00Z"}]
JSON
cat > "$work/conf.yaml" <<YAML
version: 1
threads: 2
pid_file: $work/pid
upgrade_sock: $work/up.sock
kiro_edge:
  listen: 127.0.0.1:$gw_port
  api_keys: [cli-key]
  credentials_file: $work/creds.json
  discover_local_login: false
  endpoints:
    chat: http://127.0.0.1:$mock_port/generateAssistantResponse
    social_refresh: http://127.0.0.1:$mock_port/refreshToken
    idc_token: http://127.0.0.1:$mock_port/token
    usage: http://127.0.0.1:$mock_port/getUsageLimits
    models: http://127.0.0.1:$mock_port/ListAvailableModels
  upstream:
    ping_interval_ms: 200     # so that every CLI meets keep-alives mid-answer below
YAML
./target/debug/kiro-edge -c "$work/conf.yaml" > "$work/gateway.log" 2>&1 &
gw_pid=$!
trap 'kill $gw_pid $mock_pid 2>/dev/null; rm -rf "$work"' EXIT
sleep 2

home=$work/home; mkdir -p "$home/.gemini" "$work/codex" "$work/cwd"
cat > "$home/.gemini/settings.json" <<'JSON'
{"security":{"auth":{"selectedType":"gemini-api-key"}},"privacy":{"usageStatisticsEnabled":false}}
JSON
cat > "$work/codex/config.toml" <<TOML
model = "claude-sonnet-4-5"
model_provider = "kiro"
check_for_update_on_startup = false
[model_providers.kiro]
name = "kiro-edge"
base_url = "http://127.0.0.1:$gw_port/v1"
env_key = "KIRO_EDGE_KEY"
wire_api = "responses"
[analytics]
enabled = false
[feedback]
enabled = false
[otel]
exporter = "none"
metrics_exporter = "none"
trace_exporter = "none"
[features]
plugins = false
remote_plugin = false
TOML

failed=0
check() { # name expected-substring command...
  local name=$1 want=$2; shift 2
  local out; out=$(cd "$work/cwd" && timeout 180 env HOME="$home" "$@" </dev/null 2>&1)
  if grep -qF -- "$want" <<<"$out"; then echo "PASS $name"; else echo "FAIL $name"; echo "$out" | tail -5; failed=1; fi
}
claude=(env ANTHROPIC_BASE_URL=http://127.0.0.1:$gw_port ANTHROPIC_API_KEY=cli-key
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK=1 "$bin/claude")
codex=(env CODEX_HOME=$work/codex KIRO_EDGE_KEY=cli-key "$bin/codex" exec --skip-git-repo-check)
gemini=(env GEMINI_API_KEY=cli-key GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:$gw_port GEMINI_CLI_TRUST_WORKSPACE=true "$bin/gemini")

check "claude-code text" "MOCK_OK" "${claude[@]}" -p "say hi" --model claude-sonnet-4-5
check "claude-code tool" "MOCK_TOOL_RESULT: claude-tool-ok" "${claude[@]}" --allowedTools Bash --model claude-sonnet-4-5 \
  -p 'run [[mock:tool Bash {"command":"echo claude-tool-ok","description":"echo"}]]'
check "codex text" "MOCK_OK" "${codex[@]}" "say hi"
check "codex tool" "MOCK_TOOL_RESULT" "${codex[@]}" --dangerously-bypass-approvals-and-sandbox \
  'run [[mock:tool exec_command {"cmd":"echo codex-tool-ok"}]]'
check "gemini-cli text (with its JSON routing call)" "MOCK_OK" "${gemini[@]}" -p "say hi"
check "gemini-cli tool" "gemini-tool-ok" "${gemini[@]}" --yolo -m gemini-2.5-flash \
  -p 'run [[mock:tool run_shell_command {"command":"echo gemini-tool-ok"}]]'
# Kiro silent for 0.8 s twice in each answer: the CLIs get keep-alives meanwhile.
check "claude-code through silences" "tok1 tok2 tok3" "${claude[@]}" -p "[[mock:events 3 800]]" --model claude-sonnet-4-5
check "codex through silences" "tok1 tok2 tok3" "${codex[@]}" "[[mock:events 3 800]]"
check "gemini-cli through silences" "tok1 tok2 tok3" "${gemini[@]}" -m gemini-2.5-flash -p "[[mock:events 3 800]]"
rejected=$(curl -s "http://127.0.0.1:$mock_port/__mock/requests" | grep -o '"verdict":"rejected"' | wc -l)
if [ "$rejected" -eq 0 ]; then echo "PASS strict mock accepted every request"; else echo "FAIL $rejected request(s) rejected by the strict mock"; failed=1; fi
exit $failed

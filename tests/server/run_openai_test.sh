#!/usr/bin/env bash
# Starts `r1wb serve` with an API key on a free loopback port, runs openai_client.mjs (the official openai npm
# package) against it, then stops the server with SIGTERM and checks that it exits cleanly.
#   run_openai_test.sh R1WB MODEL_DIR NODE_MODULES_DIR
# Exit 77 (skipped) only where node is not installed; a missing openai package or any failed check fails.
set -euo pipefail

r1wb="$1" model="$2" modules="$3"

if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed"
  exit 77
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -f "$modules/openai/package.json" ]]; then
  echo "FAIL: the openai npm package is not in $modules; run tools/fetch_test_data.sh" >&2
  exit 1
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

key="sk-r1wb-test-$RANDOM$RANDOM"
mkfifo "$work/out"
"$r1wb" serve --model "$model" --host 127.0.0.1 --port 0 --api-key "$key" --parallel 4 \
  >"$work/out" 2>"$work/err" &
server_pid=$!
exec 3<"$work/out"

# The server prints "listening on http://HOST:PORT" once it accepts connections.
base_url=""
while IFS= read -r -t 120 -u 3 line; do
  echo "server: $line"
  if [[ "$line" == "listening on "* ]]; then
    base_url="${line#listening on }"
    break
  fi
done
if [[ -z "$base_url" ]]; then
  echo "FAIL: r1wb serve did not report listening" >&2
  cat "$work/err" >&2
  exit 1
fi

status=0
R1WB_BASE_URL="$base_url" R1WB_API_KEY="$key" R1WB_NODE_MODULES="$modules" \
  node "$here/openai_client.mjs" || status=$?

kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""
cat <&3 >/dev/null || true
exec 3<&-
if [[ "$server_status" -ne 0 ]]; then
  echo "FAIL: r1wb serve exited with $server_status after SIGTERM" >&2
  cat "$work/err" >&2
  status=1
fi
exit "$status"

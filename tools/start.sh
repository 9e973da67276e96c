#!/usr/bin/env bash
# Sets up (tools/setup.sh) and starts the workbench on the built-in model. Without a display it runs a
# short generation from the command line instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools/setup.sh
model="$root/tests/fixtures/models/qwen2-tied"
if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" && -x build/bin/r1-workbench ]]; then
  exec build/bin/r1-workbench "$@"
fi
echo "start: no display; generating from $model with r1wb instead"
exec build/bin/r1wb generate --model "$model" --prompt "The quick brown fox" --max-new-tokens 32 --temperature 0.8 --seed 1

#!/usr/bin/env bash
# Sets up (tools/setup.sh) and starts the workbench on the built-in model. Without a display it runs a
# short generation from the command line instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools/setup.sh
model="$root/resources/models/r1-tiny"
if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" && -x build/bin/r1-workbench ]]; then
  exec build/bin/r1-workbench "$@"
fi
echo "start: no display; generating from $model with r1wb instead"
exec build/bin/r1wb generate --model "$model" --max-new-tokens 96 --greedy \
  --prompt "Using the numbers [1, 20, 5], create an equation that equals 95. You can use +, -, *, / and parentheses, and each number at most once. Show your reasoning in <think> </think> and give only the equation in <answer> </answer>, for example <answer>(1 + 2) / 3</answer>."

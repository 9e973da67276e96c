#!/usr/bin/env bash
# The portable bundle of tools/make_bundle.sh: made into a temporary folder, its launchers run with an empty
# LD_LIBRARY_PATH, the bundled r1wb describes the bundled model and finds it as the built-in one, every
# non-system library resolves inside the bundle, and the Qt plugins (platforms, SQLite driver) are there.
#
#   test_bundle.sh SOURCE_DIR R1WB [R1_WORKBENCH]
set -euo pipefail
src=$1
shift
binaries=("$@")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The built-in model is what the programs find when neither R1WB_DEFAULT_MODEL nor a saved setting names one.
export XDG_CONFIG_HOME=$work/config
unset R1WB_DEFAULT_MODEL
fail() {
  echo "FAIL: $*"
  exit 1
}

bundle=$work/r1-workbench
"$src/tools/make_bundle.sh" "$bundle" "${binaries[@]}" || fail "make_bundle.sh"
model=$bundle/share/r1-workbench/models/r1-tiny

out=$(env LD_LIBRARY_PATH= "$bundle/r1wb" info --model "$model") || fail "bundled r1wb info"
echo "$out" | grep -i 'deepseek' >/dev/null || fail "bundled r1wb info does not describe r1-tiny: $out"

# Libraries that are not the host's come from the bundle.
libs=$(LD_LIBRARY_PATH="$bundle/lib" ldd "$bundle/bin/r1wb")
for lib in libopenblas libpcre2-8 libutf8proc libQt6Core; do
  echo "$libs" | grep "$lib" | grep "=> $bundle/lib/" >/dev/null || fail "$lib does not resolve into the bundle:"$'\n'"$libs"
done
[[ -f $bundle/plugins/sqldrivers/libqsqlite.so ]] || fail "the SQLite driver plugin is missing"

# The demo preset finds the bundled model's SFT checkpoint (sft-500) as its starting point, and the run store
# opens through the bundled SQLite plugin.
env LD_LIBRARY_PATH= "$bundle/r1wb" train grpo --preset demo --save-config "$work/demo.json" || fail "--preset demo"
resolved=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"])' "$work/demo.json")
[[ $(realpath "$resolved") == $(realpath "$model/sft-500") ]] || fail "the demo's model resolved to $resolved"
log=$(env LD_LIBRARY_PATH= QT_DEBUG_PLUGINS=1 "$bundle/r1wb" train grpo --model "$model" --steps 1 \
  --group-size 2 --prompts-per-step 1 --max-completion 4 --quiet --store "$work/runs.sqlite" 2>&1) || fail "bundled r1wb with a store: $log"
echo "$log" | grep "$bundle/plugins/sqldrivers/libqsqlite.so" >/dev/null || fail "the SQLite driver did not load from the bundle:"$'\n'"$log"

if [[ ${#binaries[@]} -gt 1 ]]; then
  [[ -f $bundle/plugins/platforms/libqoffscreen.so && -f $bundle/plugins/platforms/libqxcb.so ]] ||
    fail "the platform plugins are missing"
  env LD_LIBRARY_PATH= QT_QPA_PLATFORM=offscreen "$bundle/r1-workbench" --version | grep '^r1-workbench [0-9]' >/dev/null ||
    fail "bundled r1-workbench --version"
fi
echo "ok: the bundle runs with an empty LD_LIBRARY_PATH ($(du -sh "$bundle" | cut -f1))"

#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` over the build folder (no rebuild: it installs the programs already
# built), then its control data (Depends computed by dpkg-shlibdeps) and contents; the extracted package's
# programs run and find the built-in model beside them; and, as root only, `dpkg -i`, the installed programs,
# `dpkg -r`.
#
#   test_deb.sh BUILD_DIR CPACK_COMMAND HAVE_GUI(0|1)
set -euo pipefail
build=$1
cpack=$2
have_gui=$3

for tool in dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
[[ -x $build/bin/r1wb ]] || { echo "FAIL: $build/bin/r1wb is not built"; exit 1; }
if [[ $have_gui == 1 && ! -x $build/bin/r1-workbench ]]; then
  echo "FAIL: $build/bin/r1-workbench is not built"
  exit 1
fi

work=$(mktemp -d)
installed=0
cleanup() {
  if [[ $installed == 1 ]]; then dpkg -r r1-workbench >/dev/null || echo "warning: dpkg -r r1-workbench failed"; fi
  rm -rf "$work"
}
trap cleanup EXIT
# The built-in model is what the programs find when neither R1WB_DEFAULT_MODEL nor a saved setting names one.
export XDG_CONFIG_HOME=$work/config
unset R1WB_DEFAULT_MODEL

fail() {
  echo "FAIL: $*"
  exit 1
}

"$cpack" -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack -G DEB"; }
shopt -s nullglob
debs=("$work"/out/*.deb)
[[ ${#debs[@]} == 1 ]] || fail "expected one .deb, found: ${debs[*]:-none}"
deb=${debs[0]}
echo "package: $(basename "$deb") ($(du -h "$deb" | cut -f1))"

info=$(dpkg-deb -I "$deb")
echo "$info" | grep '^ Package: r1-workbench$' >/dev/null || fail "control has no Package: r1-workbench"$'\n'"$info"
depends=$(echo "$info" | sed -n 's/^ Depends: //p')
echo "Depends: $depends"
# dpkg-shlibdeps names the package of each library the programs link; the SQLite driver is declared by hand.
for pkg in libc6 libqt6core6 libqt6sql6 libopenblas libpcre2-8 libutf8proc libqt6sql6-sqlite; do
  echo "$depends" | grep "$pkg" >/dev/null || fail "Depends lacks $pkg: $depends"
done
if [[ $have_gui == 1 ]]; then
  for pkg in libqt6widgets6 libqcustomplot; do
    echo "$depends" | grep "$pkg" >/dev/null || fail "Depends lacks $pkg: $depends"
  done
fi

contents=$(dpkg-deb -c "$deb" | awk '{print $NF}')
expected=(./usr/bin/r1wb ./usr/share/r1-workbench/models/r1-tiny/config.json
  ./usr/share/r1-workbench/models/r1-tiny/model.safetensors ./usr/share/r1-workbench/models/r1-tiny/tokenizer.json
  ./usr/share/r1-workbench/models/r1-tiny/sft-500/model.safetensors)
if [[ $have_gui == 1 ]]; then
  expected+=(./usr/bin/r1-workbench ./usr/share/applications/r1-workbench.desktop
    ./usr/share/icons/hicolor/scalable/apps/r1-workbench.svg)
fi
for f in "${expected[@]}"; do
  echo "$contents" | grep -x -- "$f" >/dev/null || fail "the package lacks $f"
done

# Runs the programs under PREFIX (an extracted or installed /usr).
check_programs() {
  local prefix=$1
  local model=$prefix/share/r1-workbench/models/r1-tiny
  local out
  out=$("$prefix/bin/r1wb" info --model "$model") || fail "$prefix/bin/r1wb info --model $model"
  echo "$out" | grep -i 'deepseek' >/dev/null || fail "r1wb info does not describe r1-tiny: $out"
  "$prefix/bin/r1wb" --version | grep '^r1wb [0-9]' >/dev/null || fail "$prefix/bin/r1wb --version"
  # With no --model the demo preset takes the built-in model's SFT checkpoint (sft-500), which must be the one
  # installed beside it.
  "$prefix/bin/r1wb" train grpo --preset demo --save-config "$work/demo.json" || fail "r1wb --preset demo"
  local resolved
  resolved=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"])' "$work/demo.json")
  [[ $(realpath "$resolved") == $(realpath "$model/sft-500") ]] ||
    fail "the demo's model resolved to $resolved, not $model/sft-500"
  if [[ $have_gui == 1 ]]; then
    QT_QPA_PLATFORM=offscreen "$prefix/bin/r1-workbench" --version | grep '^r1-workbench [0-9]' >/dev/null ||
      fail "$prefix/bin/r1-workbench --version"
    local desktop=$prefix/share/applications/r1-workbench.desktop
    grep -qx 'Exec=r1-workbench' "$desktop" || fail "$desktop: Exec is not r1-workbench"
    grep -qx 'Icon=r1-workbench' "$desktop" || fail "$desktop: Icon is not r1-workbench"
  fi
  echo "ok: the programs under $prefix run and find their model"
}

dpkg-deb -x "$deb" "$work/root"
check_programs "$work/root/usr"

if [[ $(id -u) != 0 ]]; then
  echo "not root: dpkg -i left out"
  exit 0
fi
if dpkg-query -W -f='${Status}' r1-workbench 2>/dev/null | grep 'install ok installed' >/dev/null; then
  echo "r1-workbench is already installed on this machine: dpkg -i left out, so it is not replaced"
  exit 0
fi
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; installed=1; fail "dpkg -i"; }
installed=1
check_programs /usr
dpkg -r r1-workbench >/dev/null || fail "dpkg -r r1-workbench"
installed=0
[[ ! -e /usr/bin/r1wb && ! -e /usr/share/r1-workbench ]] || fail "dpkg -r left files behind"
echo "ok: installed with dpkg -i, ran, removed with dpkg -r"

#!/usr/bin/env bash
# Makes a portable R1 Workbench: a folder that runs on another x86-64 Linux without installing anything.
#
#   tools/make_bundle.sh [--model DIR] [--qt-plugins DIR] [--archive] OUT_DIR BINARY...
#
#   OUT_DIR/r1wb, OUT_DIR/r1-workbench   launchers: run these (they set LD_LIBRARY_PATH and QT_PLUGIN_PATH)
#   OUT_DIR/bin/                         the programs, and a qt.conf pointing Qt at the bundle's plugins
#   OUT_DIR/lib/                         every shared library they load that is not part of the host system
#   OUT_DIR/plugins/                     the Qt plugins they need: platforms, sqldrivers (the run store), ...
#   OUT_DIR/share/r1-workbench/models/   the built-in r1-tiny, where the programs look for it (bin/../share)
#
# --model DIR        the model to bundle (default: resources/models/r1-tiny)
# --qt-plugins DIR   Qt's plugin folder (default: what qtpaths6 reports)
# --archive          also pack OUT_DIR into OUT_DIR.tar.gz
#
# The host must provide glibc, libstdc++ and the graphics and display libraries (OpenGL/EGL, X11/xcb core,
# Wayland, fontconfig, freetype, D-Bus): those must match the host's drivers and services, so they are never
# bundled. The bundle therefore runs on distributions whose glibc and libstdc++ are as new as the build
# machine's or newer.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
model="$here/../resources/models/r1-tiny"
qt_plugins=""
archive=0
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --qt-plugins) qt_plugins=$2; shift 2 ;;
    --archive) archive=1; shift ;;
    *) echo "make_bundle.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ $# -lt 2 ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
out=$1
shift
binaries=("$@")

for b in "${binaries[@]}"; do
  [[ -x $b ]] || { echo "make_bundle.sh: $b is not an executable" >&2; exit 1; }
done
[[ -f $model/config.json ]] || { echo "make_bundle.sh: $model holds no model (config.json)" >&2; exit 1; }
if [[ -z $qt_plugins ]]; then
  qt_plugins=$(qtpaths6 --query QT_INSTALL_PLUGINS 2>/dev/null || qtpaths --query QT_INSTALL_PLUGINS 2>/dev/null ||
    true)
fi

# Libraries the host provides: the C runtime, the compiler's runtime, and what must match the host's
# drivers, display server and system services.
system_libs='^(linux-vdso|ld-linux|libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libnsl|libstdc\+\+|libgcc_s|libGL|libEGL|libGLX|libGLdispatch|libOpenGL|libGLESv2|libgbm|libdrm|libvulkan|libcuda|libnvidia|libX11|libX11-xcb|libxcb|libwayland-[a-z]+|libfontconfig|libfreetype|libdbus-1|libsystemd|libudev|libasound)\.so'

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/plugins" "$out/share/r1-workbench/models"

# The Qt plugins the programs need: a platform to draw on, the SQLite driver for the run store, and the
# image formats, icon engines and xcb GL integrations Qt Widgets may load.
uses_qt_gui=0
for b in "${binaries[@]}"; do
  if ldd "$b" | grep 'libQt6Gui\.so' >/dev/null; then uses_qt_gui=1; fi
done
plugin_dirs=(sqldrivers)
if [[ $uses_qt_gui == 1 ]]; then plugin_dirs+=(platforms imageformats iconengines xcbglintegrations platformthemes); fi
elves=("${binaries[@]}")
if [[ -n $qt_plugins && -d $qt_plugins ]]; then
  for d in "${plugin_dirs[@]}"; do
    [[ -d $qt_plugins/$d ]] || continue
    mkdir -p "$out/plugins/$d"
    for p in "$qt_plugins/$d"/*.so; do
      [[ -e $p ]] || continue
      # Only the SQLite driver: the others need client libraries of database servers.
      if [[ $d == sqldrivers && $(basename "$p") != libqsqlite.so ]]; then continue; fi
      # Desktop-specific themes (GTK) pull in the whole toolkit; Qt's own look is used instead.
      if [[ $d == platformthemes ]]; then continue; fi
      # Desktop sessions (X11, Wayland) and headless runs; not framebuffer, EGL-device or VNC displays.
      if [[ $d == platforms && ! $(basename "$p") =~ ^libq(xcb|wayland.*|offscreen|minimal)\.so$ ]]; then continue; fi
      cp -L "$p" "$out/plugins/$d/"
      elves+=("$out/plugins/$d/$(basename "$p")")
    done
  done
  rmdir "$out/plugins"/* 2>/dev/null || true
else
  echo "make_bundle.sh: warning: no Qt plugin folder found (give --qt-plugins DIR)" >&2
fi

for b in "${binaries[@]}"; do
  cp -L "$b" "$out/bin/"
done

# ldd lists every library an ELF file loads, directly or not, so one pass over the programs and plugins
# collects them all.
for f in "${elves[@]}"; do
  ldd "$f" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  name=$(basename "$lib")
  if [[ $name =~ $system_libs ]]; then continue; fi
  cp -Ln "$lib" "$out/lib/$name"
done

if command -v strip >/dev/null; then
  strip --strip-unneeded "$out"/bin/* "$out"/lib/*.so* 2>/dev/null || true
  find "$out/plugins" -name '*.so' -exec strip --strip-unneeded {} + 2>/dev/null || true
fi

cat >"$out/bin/qt.conf" <<'EOF'
[Paths]
Prefix = ..
Plugins = plugins
EOF

cp -R "$model" "$out/share/r1-workbench/models/r1-tiny"

for b in "${binaries[@]}"; do
  name=$(basename "$b")
  cat >"$out/$name" <<EOF
#!/bin/sh
# Runs the bundled $name with the bundle's libraries and Qt plugins, wherever the bundle was unpacked.
bundle=\$(cd "\$(dirname "\$0")" && pwd)
LD_LIBRARY_PATH="\$bundle/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
QT_PLUGIN_PATH="\$bundle/plugins"
export LD_LIBRARY_PATH QT_PLUGIN_PATH
exec "\$bundle/bin/$name" "\$@"
EOF
  chmod +x "$out/$name"
done

# Every bundled program and plugin must find all it loads in the bundle or among the system libraries.
missing=$(for f in "$out"/bin/* "$out"/lib/*.so* $(find "$out/plugins" -name '*.so'); do
  [[ $f == *.conf ]] || LD_LIBRARY_PATH="$out/lib" ldd "$f" 2>/dev/null | grep 'not found' || true
done)
if [[ -n $missing ]]; then
  echo "make_bundle.sh: unresolved libraries:" >&2
  echo "$missing" >&2
  exit 1
fi

if [[ $archive == 1 ]]; then
  tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
  echo "$out.tar.gz"
fi
du -sh "$out"

#!/usr/bin/env bash
# Builds the project with AddressSanitizer + UndefinedBehaviorSanitizer into build-asan (CUDA off) and runs
# the test suites labelled unit there; any sanitizer report fails the test that triggered it. With -t it
# builds with ThreadSanitizer into build-tsan instead (the data-parallel ranks are threads).
#
# Usage: tools/sanitize.sh [-c gcc|clang] [-t] [-j JOBS] [-L LABEL] [ctest arguments...]
#   -c  compiler (default gcc; clang uses clang-14 where installed)
#   -t  ThreadSanitizer (e.g. tools/sanitize.sh -t -R tst_data_parallel)
#   -j  parallel build and test jobs (default: the number of cores, at most 2)
#   -L  the ctest label to run (default unit)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

compiler=gcc
jobs=$(( $(nproc) < 2 ? 1 : 2 ))
label=unit
sanitizers=address,undefined
build="$root/build-asan"
while getopts "c:tj:L:h" opt; do
  case $opt in
    c) compiler=$OPTARG ;;
    t) sanitizers=thread build="$root/build-tsan" ;;
    j) jobs=$OPTARG ;;
    L) label=$OPTARG ;;
    *) sed -n '2,11p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

case $compiler in
  gcc) cc=gcc cxx=g++ ;;
  clang)
    cc=$(command -v clang-14 || command -v clang)
    cxx=$(command -v clang++-14 || command -v clang++)
    ;;
  *) echo "sanitize: unknown compiler \"$compiler\" (gcc, clang)" >&2; exit 2 ;;
esac

generator=()
[[ -f $build/CMakeCache.txt ]] || ! command -v ninja >/dev/null || generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DR1WB_CUDA=OFF \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DR1WB_SANITIZE="$sanitizers"
cmake --build "$build" -j "$jobs"

# Leaks are reported too; a UBSan finding stops the process (-fno-sanitize-recover) with its stack.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# A race fails the test; instrumented code runs several times slower, so Qt's per-function limit is raised.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
export QTEST_FUNCTION_TIMEOUT=${QTEST_FUNCTION_TIMEOUT:-3000000}
cd "$build"
status=0
ctest -L "$label" -j "$jobs" --output-on-failure --timeout 3600 "$@" || status=$?
echo "sanitize: ctest -L $label with -fsanitize=$sanitizers ($compiler): exit $status"
exit $status

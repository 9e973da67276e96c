#!/usr/bin/env bash
# The sanitizer and fuzzing share of CI: one clang build (build-fuzz: AddressSanitizer +
# UndefinedBehaviorSanitizer, libFuzzer coverage, CUDA off) of the fuzz targets and the engine's unit test
# suites, then the engine suites and a 30-second fuzzing smoke per target (ctest label fuzz). Any sanitizer
# report or fuzzer crash fails it. tools/sanitize.sh runs the whole suite under the sanitizers instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

engine_tests=(tst_safetensors tst_config tst_kernels_cpu tst_sampler tst_runtime_cpu tst_chat_template
  tst_reasoning tst_train_ops_cpu tst_sft_data tst_grpo tst_rewards tst_moe_train_ops)
fuzz_targets=(safetensors config tokenizer_json tokenizer_encode chat_template reasoning jsonl http_request)

cxx=$(command -v clang++-14 || command -v clang++ || true)
cc=$(command -v clang-14 || command -v clang || true)
if [[ -z $cxx || -z $cc ]]; then
  echo "sanitize_ci: clang is not installed (tools/setup.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 2
fi
build="$root/build-fuzz"
jobs=$(nproc)
generator=()
[[ -f $build/CMakeCache.txt ]] || ! command -v ninja >/dev/null || generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DR1WB_CUDA=OFF -DR1WB_GUI=OFF \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DR1WB_FUZZ=ON
cmake --build "$build" -j "$jobs" --target "${engine_tests[@]}" "${fuzz_targets[@]/#/fuzz_}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$build"
regex="^($(IFS='|'; echo "${engine_tests[*]}"))\$"
ctest -R "$regex" -j "$jobs" --output-on-failure --timeout 900
ctest -L fuzz -j "$jobs" --output-on-failure --timeout 300

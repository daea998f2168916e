#!/usr/bin/env bash
# Builds a fuzzer with clang (libFuzzer + ASan + UBSan) and runs it for a bounded time on a
# scratch copy of its seed corpus. Used by `make test` (short) and `make fuzz` (long).
# Usage: fuzz/run_bounded.sh SECONDS [BUILD_DIR] [TARGET]
#   TARGET: codec (the MQTT codec, the default), columns (the tables' column codecs) or payload
#   (the telemetry payload formats and time values) or websocket (the WebSocket transport)
set -euo pipefail
secs=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/build/fuzz}
target=${3:-codec}
cxx=$(command -v clang++-14 || command -v clang++ || true)
if [ -z "$cxx" ]; then
  echo "clang++ not found: install clang-14 (scripts/setup.sh does)" >&2
  exit 1
fi
mkdir -p "$out"
libs=()
case $target in
  codec) srcs=("$root"/src/mqtt/*.cpp "$root"/fuzz/codec_fuzz.cpp); hdrs=("$root"/src/mqtt/*.h) ;;
  columns) srcs=("$root"/src/store/column_codec.cpp "$root"/fuzz/column_fuzz.cpp); hdrs=("$root"/src/store/column_codec.h) ;;
  payload) srcs=("$root"/src/ingest/{payload,json_payload,csv_payload,line_protocol,time_format}.cpp "$root"/fuzz/payload_fuzz.cpp)
           hdrs=("$root"/src/ingest/payload.h "$root"/src/ingest/payload_internal.h); libs=(-lsimdjson) ;;
  websocket) srcs=("$root"/src/net/websocket.cpp "$root"/fuzz/websocket_fuzz.cpp)
             hdrs=("$root"/src/net/websocket.h "$root"/src/net/transport.h); libs=(-lcrypto) ;;
  *) echo "unknown fuzz target '$target' (codec, columns, payload, websocket)" >&2; exit 2 ;;
esac
bin=$out/${target}_fuzz
if [ ! -x "$bin" ] || [ -n "$(find "${srcs[@]}" "${hdrs[@]}" -newer "$bin" 2>/dev/null | head -1)" ]; then
  "$cxx" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/src" "${srcs[@]}" -o "$bin" ${libs[@]+"${libs[@]}"}
fi
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp "$root"/fuzz/corpus/"$target"/* "$corpus"/
"$bin" -max_total_time="$secs" -print_final_stats=1 "$corpus" 2>&1 | tail -n 15

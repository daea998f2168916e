#!/usr/bin/env bash
# Builds a fuzzer with clang (libFuzzer + ASan + UBSan) and runs it for a bounded time on a
# scratch copy of its seed corpus. Used by `make test` (short) and `make fuzz` (long).
# Usage: [FUZZ_SEED=N] fuzz/run_bounded.sh SECONDS [BUILD_DIR] [TARGET]
#   TARGET: codec (the MQTT codec, the default), columns (the tables' column codecs), payload
#   (the telemetry payload formats and time values), websocket (the WebSocket transport),
#   connection (a broker::Client and the Broker behind it, fed a byte stream), acl and password
#   (the auth files' parsers and checks), config (the TOML configuration) or sql (the SQL
#   engine over the conformance data set; seeded with the conformance table's statements)
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
incs=()
src=$root/src
case $target in
  codec) srcs=("$src"/mqtt/*.cpp "$root"/fuzz/codec_fuzz.cpp); hdrs=("$src"/mqtt/*.h) ;;
  columns) srcs=("$src"/store/column_codec.cpp "$root"/fuzz/column_fuzz.cpp); hdrs=("$src"/store/column_codec.h) ;;
  payload) srcs=("$src"/ingest/{payload,json_payload,csv_payload,line_protocol,time_format}.cpp "$root"/fuzz/payload_fuzz.cpp)
           hdrs=("$src"/ingest/payload.h "$src"/ingest/payload_internal.h); libs=(-lsimdjson) ;;
  websocket) srcs=("$src"/net/websocket.cpp "$root"/fuzz/websocket_fuzz.cpp)
             hdrs=("$src"/net/websocket.h "$src"/net/transport.h); libs=(-lcrypto) ;;
  connection) srcs=("$src"/{mqtt,auth,store,broker}/*.cpp "$root"/fuzz/connection_fuzz.cpp)
              hdrs=("$src"/{mqtt,auth,store,broker}/*.h); libs=(-lspdlog -lfmt -lcrypto -lsimdjson) ;;
  acl|password) srcs=("$src"/{mqtt,auth}/*.cpp "$root"/fuzz/${target}_fuzz.cpp)
                hdrs=("$src"/{mqtt,auth}/*.h "$root"/fuzz/nul_fields.h); libs=(-lfmt -lcrypto -lsimdjson) ;;
  config) srcs=("$src"/app/config.cpp "$src"/http/listen_address.cpp "$src"/store/table_schema.cpp
                "$src"/ingest/{ingest_rules,payload,json_payload,csv_payload,line_protocol,time_format}.cpp
                "$src"/mqtt/*.cpp "$root"/fuzz/config_fuzz.cpp)
          hdrs=("$src"/{app,http,ingest,store,mqtt,broker,net,auth}/*.h); libs=(-ltomlplusplus -lspdlog -lfmt -lsimdjson) ;;
  sql) srcs=("$src"/query/*.cpp "$src"/store/*.cpp "$src"/ingest/{payload,json_payload,csv_payload,line_protocol,time_format}.cpp
             "$root"/tests/unit/query/sql_dataset.cpp "$root"/fuzz/sql_fuzz.cpp)
       hdrs=("$src"/{query,store,ingest}/*.h "$root"/tests/unit/query/sql_dataset.h)
       incs=(-I"$root"/tests/unit/query); libs=(-lpg_query -lsimdjson) ;;
  *) echo "unknown fuzz target '$target' (codec, columns, payload, websocket, connection, acl, password, config, sql)" >&2
     exit 2 ;;
esac
bin=$out/${target}_fuzz
if [ ! -x "$bin" ] || [ -n "$(find "${srcs[@]}" "${hdrs[@]}" -newer "$bin" 2>/dev/null | head -1)" ]; then
  # One object per source, compiled in parallel (through ccache when there is one, so a
  # rebuild after an edit elsewhere in src/ costs little), then one link. The -D flags are
  # what the CMake build gives spdlog, fmt, toml++, simdjson and the code.
  cc=("$cxx" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$src" ${incs[@]+"${incs[@]}"}
      -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -DSPDLOG_SHARED_LIB -DFMT_SHARED
      -DTOML_HEADER_ONLY=0 -DTOML_SHARED_LIB=1 -DSIMDJSON_THREADS_ENABLED=1 -DMQBASE_VERSION=\"fuzz\")
  if command -v ccache >/dev/null; then cc=(ccache "${cc[@]}"); fi
  objdir=$out/obj/$target
  mkdir -p "$objdir"
  objs=() running=()
  for s in "${srcs[@]}"; do
    o=$objdir/$(basename "$(dirname "$s")")_$(basename "$s" .cpp).o
    objs+=("$o")
    "${cc[@]}" -c "$s" -o "$o" &
    running+=($!)
    if [ ${#running[@]} -ge "$(nproc)" ]; then wait "${running[0]}"; running=("${running[@]:1}"); fi
  done
  for pid in "${running[@]}"; do wait "$pid"; done
  "${cc[@]}" "${objs[@]}" -o "$bin" ${libs[@]+"${libs[@]}"}
fi
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp "$root"/fuzz/corpus/"$target"/* "$corpus"/
if [ "$target" = sql ]; then
  # Every statement of the conformance table, one file each (a case's SQL runs from the line
  # after its "query/error/statement" line, and its "params:" line, to its "----").
  awk -v dir="$corpus" '
    /^(query|error|statement) / { inq = 1; sql = ""; next }
    inq && /^params:/ { next }
    inq && /^----/ { if (sql != "") { n++; f = sprintf("%s/conformance_%04d.sql", dir, n); printf "%s", sql > f; close(f) }
                     inq = 0; next }
    inq { sql = sql (sql == "" ? "" : "\n") $0 }' "$root"/tests/unit/query/conformance/*.test
fi
# FUZZ_SEED: libFuzzer's -seed. `make test` sets it, so that CI explores the same inputs on
# every run (up to how many its time allows) and lands or not on the code, not on chance;
# `make fuzz` leaves it unset, so each long run explores new ones.
seed=()
if [ -n "${FUZZ_SEED:-}" ]; then seed=(-seed="$FUZZ_SEED"); fi
# A crashing input is written to the build directory (-artifact_prefix), not to the directory
# the fuzzer was started in, which may be the source tree.
"$bin" -max_total_time="$secs" ${seed[@]+"${seed[@]}"} -artifact_prefix="$out/" -print_final_stats=1 "$corpus" 2>&1 | tail -n 15

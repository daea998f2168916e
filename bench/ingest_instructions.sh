#!/usr/bin/env bash
# bench/ingest_instructions.sh — what one reading costs the broker, counted in instructions
# (callgrind), which unlike timings on a shared machine count the same on every run: two builds
# compare by one run each (docs/benchmarks.md, "Against the issue's targets").
#
#   micro  BM_IngestRuleReading: Ingest::take() of one TSBS truck reading mapped by the rule
#          topic = "fleet/+fleet/+name/readings", time = "$.time", inclusive, per message
#          (400,000 messages into an empty store, durability none)
#   loop   the whole event loop of a running `mqbase serve --threads 1` (everything
#          EventLoop::run_ready ran) per message, for 40,000 such readings at QoS 0 (or
#          BENCH_QOS) from bench/micro/ingest_load
#
# Knobs: MQBASE_BIN, MICROBENCH, INGEST_LOAD, BENCH_QOS (0). Needs valgrind. Takes ~2 minutes.
# Every process started here is stopped by its PID; ports are ephemeral on 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MQBASE=${MQBASE_BIN:-$ROOT/build/release/mqbase}
MICRO=${MICROBENCH:-$ROOT/build/release/bench/micro/mqbase_microbench}
LOAD=${INGEST_LOAD:-$ROOT/build/release/bench/micro/ingest_load}
QOS=${BENCH_QOS:-0}
PY=/usr/bin/python3
source "$ROOT/bench/lib.sh"

die() { echo "ingest_instructions.sh: $*" >&2; exit 1; }
command -v valgrind > /dev/null || die "needs valgrind (apt install valgrind)"
for b in "$MQBASE" "$MICRO" "$LOAD"; do
  [[ -x $b ]] || die "no $b (ninja -C build/release mqbase mqbase_microbench ingest_load)"
done

work_dir mqbase-ingest-instructions

# total OUT: the instructions callgrind counted
total() { callgrind_annotate "$1" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,; }

valgrind --tool=callgrind --callgrind-out-file="$WORK/micro.out" \
  --toggle-collect='mqbase::ingest::Ingest::take(mqbase::broker::Message const&, mqbase::broker::MessageSink::Publisher const&)' \
  "$MICRO" --benchmark_filter='BM_IngestRuleReading/1000' > /dev/null 2>&1 || die "the microbenchmark failed"
micro=$(total "$WORK/micro.out")
echo "micro: $((micro / 400000)) instructions a message (Ingest::take, BM_IngestRuleReading/1000)"

port=$(free_port)
printf '[server]\nthreads = 1\n[log]\nlevel = "warn"\n[[listener]]\nport = %s\n' "$port" > "$WORK/mqbase.toml"
printf '[[ingest]]\ntopic = "fleet/+fleet/+name/readings"\ntable = "readings"\ntime = "$.time"\n' >> "$WORK/mqbase.toml"
valgrind --tool=callgrind --callgrind-out-file="$WORK/loop.out" --collect-atstart=no \
  --toggle-collect='mqbase::net::EventLoop::run_ready()' \
  "$MQBASE" serve --config "$WORK/mqbase.toml" --data-dir "$WORK/data" --http-listen 127.0.0.1:0 > "$WORK/log" 2>&1 &
SERVER=$!
wait_port "$port" 120 || die "mqbase did not start: $(cat "$WORK/log")"
"$LOAD" --port "$port" --qos "$QOS" --mode readings --publishers 4 --messages 10000 --window 64 --trucks 1000 > /dev/null ||
  die "ingest_load failed"
kill "$SERVER" && wait "$SERVER" || true
SERVER=""
loop=$(total "$WORK/loop.out")
echo "loop: $((loop / 40000)) instructions a message (the event loop of mqbase serve --threads 1, QoS $QOS)"

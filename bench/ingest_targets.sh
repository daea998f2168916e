#!/usr/bin/env bash
# bench/ingest_targets.sh — ingest rows/s per broker core through MQTT, end to end, in the
# shapes the telemetry issue sets targets for (docs/benchmarks.md, "Against the issue's
# targets"):
#
#   rows       1000-row JSON messages ([["truck_7",<ns>,<value>],...]) to db/append/bench,
#              QoS 1, 4 publishers x 16 in flight                      (target: 2 M rows/s)
#   readings1  one TSBS truck reading per message (a JSON object of 7 fields and the time) to
#              fleet/<fleet>/truck_<n>/readings from 1,000 trucks, mapped by the rule
#              topic = "fleet/+fleet/+name/readings", time = "$.time";
#              QoS 1, 4 publishers x 64 in flight                      (target: 300 k rows/s)
#   readings0  the same at QoS 0                                       (target: 1 M rows/s)
#   devices1   the readings from 1,000 connections, one per truck, each with one message in
#              flight at QoS 1, as 1,000 devices that wait for their PUBACK send them
#                                                                      (target: 300 k rows/s)
#   devices0   the same 1,000 connections at QoS 0                     (target: 1 M rows/s)
#
# mqbase `serve --threads 1`, durability sync (the default), pinned with all its threads (the
# event loop, the WAL writer, the flusher) to core 0; the generator (bench/ingest/ingest_load,
# which makes its readings before the clock starts and writes up to 64 KiB per send) pinned to
# core 1. rows/s is the generator's: first PUBLISH to last PUBACK (QoS 1), or to the PINGRESP
# after the last PUBLISH (QoS 0). A fresh server and data directory per run; the stored rows
# are counted after each run (`mqbase tables list`) and a run that stored fewer rows than it
# sent fails. BENCH_RUNS runs per shape (default 3), the shapes alternating; medians at the end.
#
# Knobs: MQBASE_BIN, INGEST_LOAD, BENCH_RUNS (3), BENCH_READINGS (messages per publisher in the
# readings shapes, default 100000), BENCH_ROW_MESSAGES (per publisher in the rows shape, 2500),
# BENCH_DEVICE_READINGS (per connection in the devices shapes, 200), BENCH_SHAPES (all five).
# Every process started here is stopped by its PID; ports are ephemeral on 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MQBASE=${MQBASE_BIN:-$ROOT/build/release/mqbase}
LOAD=${INGEST_LOAD:-$ROOT/build/release/bench/micro/ingest_load}
RUNS=${BENCH_RUNS:-3}
READINGS=${BENCH_READINGS:-100000}
ROW_MESSAGES=${BENCH_ROW_MESSAGES:-2500}
DEVICE_READINGS=${BENCH_DEVICE_READINGS:-200}
read -r -a SHAPES <<< "${BENCH_SHAPES:-rows readings1 readings0 devices1 devices0}"
for shape in "${SHAPES[@]}"; do
  [[ $shape =~ ^(rows|readings1|readings0|devices1|devices0)$ ]] ||
    { echo "ingest_targets.sh: unknown shape '$shape' (rows readings1 readings0 devices1 devices0)" >&2; exit 1; }
done
PY=/usr/bin/python3
source "$ROOT/bench/lib.sh"

die() { echo "ingest_targets.sh: $*" >&2; exit 1; }
[[ -x $MQBASE ]] || die "no mqbase at $MQBASE (ninja -C build/release mqbase ingest_load)"
[[ -x $LOAD ]] || die "no ingest_load at $LOAD (ninja -C build/release mqbase ingest_load)"
[[ $(nproc) -ge 2 ]] || die "needs 2 cores (the broker on one, the generator on the other)"

work_dir mqbase-ingest-targets

# run SHAPE: prints the run's rows/s
run() {
  local shape=$1 dir=$WORK/run port qos=1 args
  rm -rf "$dir" && mkdir -p "$dir"
  port=$(free_port)
  printf '[server]\nthreads = 1\n[log]\nlevel = "warn"\n[[listener]]\nport = %s\n' "$port" > "$dir/mqbase.toml"
  case $shape in
    rows) args=(--mode rows --rows 1000 --publishers 4 --messages "$ROW_MESSAGES" --window 16) ;;
    readings*|devices*)
      printf '[[ingest]]\ntopic = "fleet/+fleet/+name/readings"\ntable = "readings"\ntime = "$.time"\n' >> "$dir/mqbase.toml"
      qos=${shape: -1}
      if [[ $shape == readings* ]]; then
        args=(--mode readings --publishers 4 --messages "$READINGS" --window 64 --trucks 1000)
      else
        args=(--mode readings --publishers 1000 --messages "$DEVICE_READINGS" --window 1 --trucks 1000)
      fi ;;
  esac
  taskset -c 0 "$MQBASE" serve --config "$dir/mqbase.toml" --data-dir "$dir/data" --http-listen 127.0.0.1:0 \
    > "$dir/log" 2>&1 &
  SERVER=$!
  wait_port "$port" 30 || die "mqbase did not start: $(cat "$dir/log")"
  local out
  out=$(taskset -c 1 "$LOAD" --port "$port" --qos "$qos" "${args[@]}") || die "$shape: ingest_load failed"
  kill "$SERVER" && wait "$SERVER" || true
  SERVER=""
  local sent stored table=bench
  [[ $shape == readings* || $shape == devices* ]] && table=readings
  sent=$(sed -n 's/.*rows=\([0-9]*\) .*/\1/p' <<< "$out")
  stored=$("$MQBASE" tables list --data-dir "$dir/data" | sed -n "/^$table /{n;s/^ *rows \([0-9]*\).*/\1/p}")
  [[ $stored == "$sent" ]] || die "$shape: $sent rows acknowledged, $stored stored"
  sed -n 's/.*rows_per_sec=\([0-9]*\).*/\1/p' <<< "$out"
}

declare -A figures
for ((i = 1; i <= RUNS; i++)); do
  for shape in "${SHAPES[@]}"; do
    r=$(run "$shape")
    echo "run $i $shape: $r rows/s"
    figures[$shape]+="$r "
  done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
num() { $PY -c 'import sys; print(f"{int(sys.argv[1]):,}")' "$1"; }
echo
echo "| shape | target rows/s | rows/s per run | median |"
echo "| --- | ---: | --- | ---: |"
for shape in "${SHAPES[@]}"; do
  case $shape in
    rows) label="1000 rows per message, QoS 1"; target=2000000 ;;
    readings1) label="one reading per message by a rule, QoS 1"; target=300000 ;;
    readings0) label="one reading per message by a rule, QoS 0"; target=1000000 ;;
    devices1) label="the same from 1,000 connections, one in flight each, QoS 1"; target=300000 ;;
    devices0) label="the same from 1,000 connections, QoS 0"; target=1000000 ;;
  esac
  runs=$(for f in ${figures[$shape]}; do echo -n "$(num "$f") / "; done)
  echo "| $label | $(num $target) | ${runs% / } | $(num "$(median <<< "${figures[$shape]}")") |"
done

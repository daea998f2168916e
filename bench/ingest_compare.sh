#!/usr/bin/env bash
# bench/ingest_compare.sh — MQTT telemetry into a database, end to end: mqbase alone against
# what users run today, mosquitto + a small collector + PostgreSQL 15, on the same machine in
# the same run, with the same generator and the same data.
#
# The generator is bench/ingest/ingest_load (build/release/bench/micro/ingest_load): N MQTT
# 3.1.1 publishers send JSON rows [["truck_7",<ns time>,<value>], ...] to db/append/tag at
# QoS 1, a window of 16 messages in flight each (deterministic: the same rows every run).
# Two shapes of the same kind of data (SHAPES below): 1000 rows of one truck per message, and
# one row per message from 1000 trucks.
#
#   mqbase     `mqbase serve --threads 1`, durability sync (the default: a PUBACK leaves once
#              the message's rows are fdatasync'ed in the WAL), with storage.checkpoint_bytes
#              and segment_size at 1 MiB so that the rows reach the block files during the
#              run. rows/s is the generator's figure (first PUBLISH to last PUBACK; PUBACK =
#              stored). Then the server is stopped and `mqbase tables list` gives rows (on
#              disk / still in the log) and the block files' bytes; `du -sb` of the data
#              directory (block files + WAL) is the total.
#   pg         a fresh PostgreSQL 15 cluster (initdb -A trust -E UTF8 --locale=C.UTF-8 into the
#              work dir as the postgres user; default settings but listen_addresses=127.0.0.1,
#              fsync=on and synchronous_commit=on said explicitly; the settings that matter are
#              printed at the end), Debian's mosquitto (persistence off,
#              max_inflight_messages 1000, max_queued_messages 0 = unlimited), and
#              bench/ingest/collector.py (paho-mqtt, QoS 1 persistent session, COPY batches of
#              10,000 rows or 100 ms, a commit per batch, a btree index on (name, time)).
#              rows/s = rows / (generator's start .. the collector's last commit). Then
#              SELECT count(*), pg_total_relation_size('tag') (heap + index) per row, and
#              how much the cluster's data directory (`du -sb`, WAL included) grew from just
#              after the table was created.
#
# Each shape runs BENCH_RUNS times, alternating mqbase, pg, mqbase, pg, ...: a fresh server,
# data directory and cluster per run. Nothing is pinned: every process may use every core
# (the generator shares them); the CPU seconds of each process and of everything else on the
# machine during the run (/proc/stat) are printed with each run: on a machine others use, the
# figures move with their load (mqbase's 1-row shape most, as it waits for fdatasync), so read
# the "other processes" column before the rows/s (BENCH_NICE helps). Medians, the ratio mqbase/pg
# and a markdown table at the end. Every process started here is stopped by its PID (trap
# EXIT); the work dir (mktemp under /tmp) is removed. Ports: ephemeral, 127.0.0.1 only.
# Needs root (the cluster runs as the user postgres, via setpriv). Not part of `make test`.
#
# Knobs (environment): MQBASE_BIN, INGEST_LOAD, MOSQUITTO, PG_BIN (/usr/lib/postgresql/15/bin),
# BENCH_RUNS (3), BENCH_PG_INDEX (btree, brin or none), BENCH_TIMEOUT (300 s for any wait),
# BENCH_SHAPES ("all", or the index of one shape, 0 or 1), BENCH_KEEP (1: keep the work dir),
# BENCH_BATCH_ROWS (10000) and BENCH_BATCH_MS (100): the collector's batches,
# BENCH_NICE (0; e.g. -10 on a machine others are using: this script and so every process it
# starts, both systems alike, runs at that nice value, so that other work yields the cores).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MQBASE=${MQBASE_BIN:-$ROOT/build/release/mqbase}
LOAD=${INGEST_LOAD:-$ROOT/build/release/bench/micro/ingest_load}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
COLLECTOR=$ROOT/bench/ingest/collector.py
PY=/usr/bin/python3
RUNS=${BENCH_RUNS:-3}
PG_INDEX=${BENCH_PG_INDEX:-btree}
TIMEOUT=${BENCH_TIMEOUT:-300}
ONLY_SHAPE=${BENCH_SHAPES:-all}
NICE=${BENCH_NICE:-0}
BATCH_ROWS=${BENCH_BATCH_ROWS:-10000}
BATCH_MS=${BENCH_BATCH_MS:-100}
PG_USER=postgres
TABLE=tag

# label | publishers | messages per publisher | rows per message | trucks
SHAPES=(
  "1000 rows/message|4|500|1000|1000"
  "1 row/message|4|50000|1|1000"
)

die() { echo "ingest_compare.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (the PostgreSQL cluster runs as '$PG_USER' through setpriv)"
[[ -x $MQBASE ]] || die "no mqbase at $MQBASE (ninja -C build/release mqbase ingest_load)"
[[ -x $LOAD ]] || die "no ingest_load at $LOAD (ninja -C build/release mqbase ingest_load)"
[[ -x $MOSQUITTO ]] || die "no mosquitto at $MOSQUITTO (apt-get install mosquitto)"
[[ -x $PG_BIN/postgres ]] || die "no PostgreSQL 15 at $PG_BIN (apt-get install -y --no-install-recommends postgresql-15)"
id "$PG_USER" >/dev/null 2>&1 || die "no user $PG_USER (the postgresql-common package makes it)"
$PY -c 'import paho.mqtt, psycopg2' 2>/dev/null || die "$PY lacks paho-mqtt or psycopg2 (apt-get install -y python3-paho-mqtt python3-psycopg2)"
command -v setpriv >/dev/null || die "setpriv is missing (util-linux)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"

(( NICE == 0 )) || renice -n "$NICE" -p $$ >/dev/null || die "renice -n $NICE failed"

WORK=$(mktemp -d /tmp/mqbase-ingest-compare.XXXXXX)
chmod 755 "$WORK"  # the cluster's user goes through it
RESULTS=$WORK/results.txt
: >"$RESULTS"

# Every process started here, by PID; stop_pid takes one off when it has stopped it.
PIDS=()
stop_pid() {  # pid [signal] [timeout_s]: signal, wait up to timeout, then SIGKILL
  local pid=$1 sig=${2:-TERM} t=${3:-30} i
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -s "$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < t * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "ingest_compare.sh: pid $pid still there after SIG$sig and ${t}s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
cleanup() {
  local p i
  # reverse order: the collector before mosquitto, postgres last
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    p=${PIDS[$i]}
    if [[ $(cat "/proc/$p/comm" 2>/dev/null) == postgres ]]; then stop_pid "$p" INT 30; else stop_pid "$p" TERM 10; fi
  done
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port, wait_port
source "$(dirname "$0")/lib.sh"

wait_file() {  # file pid timeout_s: until the file exists, while pid lives
  local f=$1 pid=$2 i
  for ((i = 0; i < $3 * 20; i++)); do
    [[ -s $f ]] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

wait_exit() {  # pid timeout_s: until the process ends; its exit status, 124 on timeout
  local pid=$1 i rc=0
  for ((i = 0; i < $2 * 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && return 124
  wait "$pid" || rc=$?
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  return "$rc"
}

TICK=$(getconf CLK_TCK)
# CPU ticks of a process and its live descendants, children already reaped included.
tree_ticks() {
  local pid=$1 t c
  t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || t=0
  [[ -n $t ]] || t=0
  # shellcheck disable=SC2013  # the children files hold PIDs separated by spaces
  for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do t=$((t + $(tree_ticks "$c"))); done
  echo "$t"
}
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }  # all cores
now() { date +%s.%N; }
secs() { awk -v t="$1" -v k="$TICK" 'BEGIN {printf "%.2f", t / k}'; }

as_pg() { setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups "$@"; }

# The generator, identical for both systems. Prints its line; its CPU goes to $1.time.
generate() {  # out_prefix port publishers messages rows trucks
  local out=$1 port=$2
  timeout "$TIMEOUT" /usr/bin/time -o "$out.time" -f '%U %S' \
    "$LOAD" --port "$port" --publishers "$3" --messages "$4" --rows "$5" --trucks "$6" --window 16 --qos 1 \
    --table "$TABLE" >"$out.out" 2>"$out.err" || { cat "$out.err" >&2; return 1; }
  cat "$out.out"
}
gen_cpu() { awk '{printf "%.2f", $1 + $2}' "$1.time"; }

# ---- mqbase --------------------------------------------------------------------------------
run_mqbase() {  # shape_index run
  local si=$1 run=$2 label pubs msgs rows trucks dir pid port expect
  IFS='|' read -r label pubs msgs rows trucks <<<"${SHAPES[$si]}"
  expect=$((pubs * msgs * rows))
  dir=$WORK/mqbase-$si-$run
  mkdir -p "$dir"
  cat >"$dir/mqbase.toml" <<EOF
[log]
level = "warn"

[storage]
checkpoint_bytes = 1048576
segment_size = 1048576
EOF
  "$MQBASE" serve --port 0 --data-dir "$dir/data" --threads 1 -c "$dir/mqbase.toml" \
    --ready-file "$dir/ready.json" >"$dir/stdout.log" 2>"$dir/stderr.log" &
  pid=$!
  PIDS+=("$pid")
  wait_file "$dir/ready.json" "$pid" 30 || die "mqbase did not start: $(tail -5 "$dir/stderr.log")"
  port=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["listeners"][0]["port"])' "$dir/ready.json")

  local busy0 busy1 cpu0 cpu1 t0 t1 line
  busy0=$(busy_ticks); cpu0=$(tree_ticks "$pid"); t0=$(now)
  line=$(generate "$dir/gen" "$port" "$pubs" "$msgs" "$rows" "$trucks") || die "generator failed against mqbase"
  t1=$(now); busy1=$(busy_ticks); cpu1=$(tree_ticks "$pid")
  stop_pid "$pid" TERM 60

  local list on_disk in_log total blocks files du_all du_wal
  list=$("$MQBASE" tables list --data-dir "$dir/data" 2>&1) || die "mqbase tables list failed: $list"
  read -r total on_disk in_log blocks files < <($PY - "$TABLE" "$list" <<'EOF'
import re, sys
table, text = sys.argv[1], sys.argv[2]
block = re.search(r"^%s \(.*?\n(.*?)(?=^\S|\Z)" % re.escape(table), text, re.M | re.S)
body = block.group(1) if block else ""
def num(pattern):
    m = re.search(pattern, body)
    return int(m.group(1)) if m else 0
print(num(r"rows (\d+)"), num(r"on disk (\d+)"), num(r"in the log (\d+)"), num(r"bytes on disk (\d+)"), num(r"files (\d+)"))
EOF
)
  du_all=$(du -sb "$dir/data" | cut -f1)
  du_wal=$(du -sb "$dir/data/wal" 2>/dev/null | cut -f1 || echo 0)
  local check=ok
  [[ $total == "$expect" ]] || check="MISMATCH(expected $expect)"
  echo "system=mqbase shape=$si run=$run expect=$expect $(sed 's/\([a-z_]*\)=/gen_\1=/g' <<<"$line") \
wall_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}') rows_stored=$total rows_on_disk=$on_disk \
rows_in_log=$in_log block_bytes=$blocks block_files=$files dir_bytes=$du_all wal_bytes=$du_wal \
cpu_server=$(secs $((cpu1 - cpu0))) cpu_gen=$(gen_cpu "$dir/gen") cpu_all=$(secs $((busy1 - busy0))) \
check=$check" >>"$RESULTS"
  tail -1 "$RESULTS" | $PY -c '
import sys; d = dict(kv.split("=", 1) for kv in sys.stdin.read().split())
print("%-18s mqbase run %s: %9.0f rows/s  stored %s (%s in %s block files, %s in the log)  %.2f B/row in block files, %.2f B/row data dir (WAL %.2f)  CPU s: mqbase %s, generator %s, other processes %.1f in %s s  %s" % (
    sys.argv[1], d["run"], float(d["gen_rows_per_sec"]), d["rows_stored"], d["rows_on_disk"], d["block_files"], d["rows_in_log"],
    int(d["block_bytes"]) / max(1, int(d["rows_on_disk"])), int(d["dir_bytes"]) / max(1, int(d["rows_stored"])),
    int(d["wal_bytes"]) / max(1, int(d["rows_stored"])), d["cpu_server"], d["cpu_gen"],
    float(d["cpu_all"]) - float(d["cpu_server"]) - float(d["cpu_gen"]), d["wall_s"], d["check"]))' "$label"
  [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$dir"
}

# ---- mosquitto + collector + PostgreSQL -----------------------------------------------------
psql_q() { "$PG_BIN/psql" -X -A -t -q -h 127.0.0.1 -p "$1" -U "$PG_USER" -d postgres -c "$2"; }

run_pg() {  # shape_index run
  local si=$1 run=$2 label pubs msgs rows trucks dir expect
  IFS='|' read -r label pubs msgs rows trucks <<<"${SHAPES[$si]}"
  expect=$((pubs * msgs * rows))
  dir=$WORK/pg-$si-$run
  mkdir -p "$dir/pgdata" "$dir/sock"
  chown "$PG_USER:$PG_USER" "$dir/pgdata" "$dir/sock"
  chmod 755 "$dir"

  # PostgreSQL: a fresh cluster, defaults but for the three settings named.
  as_pg "$PG_BIN/initdb" -D "$dir/pgdata" -A trust -U "$PG_USER" -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || die "initdb failed: $(tail -5 "$dir/initdb.log")"
  local pg_port pg_pid i
  pg_port=$(free_port)
  # Not through as_pg: a function in the background is a subshell, and $! would be its PID.
  setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups "$PG_BIN/postgres" -D "$dir/pgdata" -p "$pg_port" \
    -k "$dir/sock" -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on >"$dir/postgres.log" 2>&1 &
  pg_pid=$!  # setpriv execs: this is the postmaster
  PIDS+=("$pg_pid")
  for ((i = 0; i < 600; i++)); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -U "$PG_USER" && break
    kill -0 "$pg_pid" 2>/dev/null || die "postgres exited at start: $(tail -5 "$dir/postgres.log")"
    sleep 0.05
  done
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -U "$PG_USER" || die "postgres not ready after 30 s"
  [[ $(cat "/proc/$pg_pid/comm") == postgres ]] || die "pid $pg_pid is not the postmaster"
  [[ -s $WORK/pg_settings.txt ]] || psql_q "$pg_port" "SELECT string_agg(name || '=' || current_setting(name), ' '
    ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level',
    'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'wal_compression', 'data_checksums', 'wal_buffers',
    'commit_delay', 'autovacuum', 'work_mem', 'maintenance_work_mem', 'wal_sync_method', 'lc_collate')" \
    >"$WORK/pg_settings.txt"

  # mosquitto: nothing dropped (unlimited queue), a window of 1000 to the collector.
  local mq_port mq_pid
  mq_port=$(free_port)
  cat >"$dir/mosquitto.conf" <<EOF
listener $mq_port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
max_inflight_messages 1000
max_queued_messages 0
log_dest stderr
log_type error
log_type warning
EOF
  "$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/mosquitto.out" 2>"$dir/mosquitto.log" &
  mq_pid=$!
  PIDS+=("$mq_pid")
  wait_port "$mq_port" 10 || die "mosquitto did not accept on $mq_port: $(tail -5 "$dir/mosquitto.log")"

  # The collector: creates the table and index, subscribes, then says ready.
  local coll_pid
  $PY "$COLLECTOR" --mqtt-port "$mq_port" --dsn "host=127.0.0.1 port=$pg_port user=$PG_USER dbname=postgres" \
    --table "$TABLE" --index "$PG_INDEX" --batch-rows "$BATCH_ROWS" --batch-ms "$BATCH_MS" --expect "$expect" --timeout "$TIMEOUT" --ready-file "$dir/collector.ready" \
    >"$dir/collector.out" 2>"$dir/collector.err" &
  coll_pid=$!
  PIDS+=("$coll_pid")
  wait_file "$dir/collector.ready" "$coll_pid" 30 || die "collector not ready: $(tail -5 "$dir/collector.err")"

  local base_bytes lsn0 busy0 busy1 mq0 mq1 pg0 pg1 t0 t_gen line rc=0
  base_bytes=$(du -sb "$dir/pgdata" | cut -f1)
  lsn0=$(psql_q "$pg_port" "SELECT pg_current_wal_lsn()")
  busy0=$(busy_ticks); mq0=$(tree_ticks "$mq_pid"); pg0=$(tree_ticks "$pg_pid"); t0=$(now)
  line=$(generate "$dir/gen" "$mq_port" "$pubs" "$msgs" "$rows" "$trucks") || die "generator failed against mosquitto"
  t_gen=$(now)
  wait_exit "$coll_pid" "$TIMEOUT" || rc=$?
  busy1=$(busy_ticks); mq1=$(tree_ticks "$mq_pid"); pg1=$(tree_ticks "$pg_pid")
  [[ $rc == 0 ]] || echo "ingest_compare.sh: collector exit status $rc: $(tail -3 "$dir/collector.err")" >&2
  local coll
  coll=$(tail -1 "$dir/collector.out" 2>/dev/null || true)
  [[ $coll == rows=* ]] || coll="rows=0 last_commit_unix=0 error=no_output"

  local count heap index total dir_bytes wal_bytes wal_written
  count=$(psql_q "$pg_port" "SELECT count(*) FROM $TABLE")
  heap=$(psql_q "$pg_port" "SELECT pg_table_size('$TABLE')")
  index=$(psql_q "$pg_port" "SELECT pg_indexes_size('$TABLE')")
  total=$(psql_q "$pg_port" "SELECT pg_total_relation_size('$TABLE')")
  dir_bytes=$(du -sb "$dir/pgdata" | cut -f1)
  wal_bytes=$(du -sb "$dir/pgdata/pg_wal" | cut -f1)
  wal_written=$(psql_q "$pg_port" "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')")
  local dropped
  dropped=$(grep -ci 'drop' "$dir/mosquitto.log" || true)

  [[ $rc == 124 ]] && stop_pid "$coll_pid" TERM 10
  stop_pid "$mq_pid" TERM 10
  stop_pid "$pg_pid" INT 60  # fast shutdown

  local check=ok
  [[ $count == "$expect" ]] || check="MISMATCH(expected $expect)"
  echo "system=pg shape=$si run=$run expect=$expect $(sed 's/\([a-z_]*\)=/gen_\1=/g' <<<"$line") \
$(sed 's/\([a-z_]*\)=/coll_\1=/g' <<<"$coll") t0=$t0 t_gen=$t_gen rows_stored=$count heap_bytes=$heap index_bytes=$index \
table_bytes=$total dir_base_bytes=$base_bytes dir_bytes=$dir_bytes wal_bytes=$wal_bytes wal_written=$wal_written \
mosquitto_drop_lines=$dropped \
cpu_mosquitto=$(secs $((mq1 - mq0))) cpu_postgres=$(secs $((pg1 - pg0))) cpu_gen=$(gen_cpu "$dir/gen") \
cpu_all=$(secs $((busy1 - busy0))) check=$check" >>"$RESULTS"
  tail -1 "$RESULTS" | $PY -c '
import sys; d = dict(kv.split("=", 1) for kv in sys.stdin.read().split())
span = float(d["coll_last_commit_unix"]) - float(d["t0"])
rows = int(d["rows_stored"])
ours = float(d["cpu_mosquitto"]) + float(d.get("coll_cpu_s", 0)) + float(d["cpu_postgres"]) + float(d["cpu_gen"])
print("%-18s pg     run %s: %9.0f rows/s  stored %d  (mosquitto PUBACKs %s rows/s, collector done %.1f s after the generator)  %.1f B/row table+index, %.1f B/row data dir growth (WAL %.1f)  CPU s: mosquitto %s, collector %s, postgres %s, generator %s, other processes %.1f in %.1f s  %s" % (
    sys.argv[1], d["run"], rows / span if span > 0 else 0, rows, d["gen_rows_per_sec"],
    float(d["coll_last_commit_unix"]) - float(d["t_gen"]), int(d["table_bytes"]) / max(1, rows),
    (int(d["dir_bytes"]) - int(d["dir_base_bytes"])) / max(1, rows), int(d["wal_bytes"]) / max(1, rows),
    d["cpu_mosquitto"], d.get("coll_cpu_s", "?"), d["cpu_postgres"], d["cpu_gen"], float(d["cpu_all"]) - ours,
    span, d["check"]))' "$label"
  [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$dir"
}

# ---- the runs ------------------------------------------------------------------------------
echo "ingest_compare.sh: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), nice $(ps -o ni= -p $$ | tr -d ' '); work dir $WORK"
START=$(date +%s)
for si in "${!SHAPES[@]}"; do
  [[ $ONLY_SHAPE == all || $ONLY_SHAPE == "$si" ]] || continue
  for ((run = 1; run <= RUNS; run++)); do
    run_mqbase "$si" "$run"
    run_pg "$si" "$run"
  done
done
echo "ingest_compare.sh: runs took $(( $(date +%s) - START )) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the table -----------------------------------------------------------------------------
$PY - "$RESULTS" "$ROOT" "$MQBASE" "$MOSQUITTO" "$PG_BIN" "$PG_INDEX" "$NICE" "$WORK/pg_settings.txt" \
  "$BATCH_ROWS" "$BATCH_MS" "${SHAPES[@]}" <<'EOF'
import datetime, os, statistics, sys

results, root, mqbase, mosquitto, pg_bin, pg_index, nice, pg_settings, batch_rows, batch_ms = sys.argv[1:11]
shapes = [s.split("|") for s in sys.argv[11:]]
sys.path.insert(0, os.path.join(root, "bench"))
from benchlib import machine, version  # noqa: E402

runs = [dict(kv.split("=", 1) for kv in line.split()) for line in open(results) if line.strip()]

def med(xs):
    return statistics.median(xs) if xs else None

def fmt(v, spec="{:,.0f}"):
    return "n/a" if v is None else spec.format(v)

def ratio(a, b, spec="{:.2f}"):
    return "n/a" if a is None or not b else spec.format(a / b)

def figures(d):
    """rows/s, table bytes/row, data-dir bytes/row, CPU seconds of the system, of the generator, of all."""
    rows = int(d["rows_stored"])
    if d["system"] == "mqbase":
        return dict(rate=float(d["gen_rows_per_sec"]),
                    table=int(d["block_bytes"]) / max(1, int(d["rows_on_disk"])),
                    disk=int(d["dir_bytes"]) / max(1, rows),
                    cpu=float(d["cpu_server"]), gen=float(d["cpu_gen"]),
                    other=float(d["cpu_all"]) - float(d["cpu_server"]) - float(d["cpu_gen"]),
                    secs=float(d["gen_seconds"]), wal=int(d["wal_bytes"]) / max(1, rows),
                    files=int(d["block_files"]), in_log=int(d["rows_in_log"]))
    span = float(d["coll_last_commit_unix"]) - float(d["t0"])
    cpu = float(d["cpu_mosquitto"]) + float(d.get("coll_cpu_s", 0)) + float(d["cpu_postgres"])
    return dict(rate=rows / span if span > 0 else 0.0,
                table=int(d["table_bytes"]) / max(1, rows),
                disk=(int(d["dir_bytes"]) - int(d["dir_base_bytes"])) / max(1, rows),
                cpu=cpu, gen=float(d["cpu_gen"]), other=float(d["cpu_all"]) - cpu - float(d["cpu_gen"]), secs=span,
                broker_rate=float(d["gen_rows_per_sec"]),
                lag=float(d["coll_last_commit_unix"]) - float(d["t_gen"]),
                mosq=float(d["cpu_mosquitto"]), coll=float(d.get("coll_cpu_s", 0)), pg=float(d["cpu_postgres"]),
                heap=int(d["heap_bytes"]) / max(1, rows), index=int(d["index_bytes"]) / max(1, rows),
                wal=int(d["wal_bytes"]) / max(1, rows), wal_written=int(d["wal_written"]) / max(1, rows),
                max_queue=int(d.get("coll_max_queue", 0)))

model, nproc, rev = machine(root)
print()
built = datetime.datetime.fromtimestamp(os.path.getmtime(mqbase), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print("Measured %s on %s CPUs (%s); tree at `%s`, mqbase release binary built %s (%s), %s, %s, Python %s with "
      "paho-mqtt and psycopg2 (Debian)." % (
    datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), nproc, model, rev, built,
    version([mqbase, "--version"]),
    version([mosquitto, "-h"]), version([os.path.join(pg_bin, "postgres"), "--version"]),
    version(["/usr/bin/python3", "-c", "import sys; print(sys.version.split()[0])"])))
print()
print("| data | system | rows/s end to end | bytes/row in table files | bytes/row on disk incl. WAL | rows stored / sent | server-side CPU s | generator CPU s | other processes' CPU s | seconds |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
notes = []
for si, (label, pubs, msgs, rows, trucks) in enumerate(shapes):
    by = {}
    for d in runs:
        if int(d["shape"]) == si:
            by.setdefault(d["system"], []).append(d)
    if not by:
        continue
    data = "%s × %s msgs × %s rows (%s trucks)" % (pubs, msgs, rows, trucks)
    meds = {}
    for system, name in (("mqbase", "mqbase --threads 1, sync"),
                         ("pg", "mosquitto + collector + PostgreSQL 15 (%s index, batches of %s rows / %s ms)"
                          % ("no" if pg_index == "none" else pg_index, batch_rows, batch_ms))):
        rs = by.get(system, [])
        fs = [figures(d) for d in rs]
        m = {k: med([f[k] for f in fs]) for k in (fs[0] if fs else {})}
        meds[system] = m
        stored = ", ".join(sorted({"%s / %s" % (d["rows_stored"], d["expect"]) for d in rs})) or "n/a"
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            data, name, fmt(m.get("rate")), fmt(m.get("table"), "{:.2f}"), fmt(m.get("disk"), "{:.2f}"), stored,
            fmt(m.get("cpu"), "{:.1f}"), fmt(m.get("gen"), "{:.1f}"), fmt(m.get("other"), "{:.1f}"), fmt(m.get("secs"), "{:.1f}")))
        for d in rs:
            if d["check"] != "ok":
                notes.append("- %s, %s run %s: %s rows stored of %s sent" % (label, system, d["run"], d["rows_stored"], d["expect"]))
            if d.get("mosquitto_drop_lines", "0") != "0":
                notes.append("- %s, run %s: mosquitto logged %s lines about dropping" % (label, d["run"], d["mosquitto_drop_lines"]))
            if "coll_error" in d:
                notes.append("- %s, run %s: collector %s" % (label, d["run"], d["coll_error"]))
    a, b = meds.get("mqbase", {}), meds.get("pg", {})
    if a:
        notes.append("- %s, mqbase medians: WAL left %.2f B/row; %s block files; %s rows still in the log at the stop"
                     % (label, a["wal"], fmt(a["files"]), fmt(a["in_log"])))
    print("| %s | ratio mqbase / pg | %s | %s | %s | | | | | |" % (
        data, ratio(a.get("rate"), b.get("rate")), ratio(a.get("table"), b.get("table"), "{:.4f}"),
        ratio(a.get("disk"), b.get("disk"), "{:.4f}")))
    if b:
        notes.append("- %s, pg medians: mosquitto's own PUBACK rate %s rows/s; collector done %.1f s after the generator "
                     "(queue peak %s messages); CPU s mosquitto %.1f, collector %.1f, postgres %.1f; heap %.1f + index %.1f "
                     "B/row, pg_wal %.1f B/row on disk (whole 16 MiB segments), %.1f B/row of WAL written (LSN difference)"
                     % (label, fmt(b["broker_rate"]), b["lag"], fmt(b["max_queue"]), b["mosq"], b["coll"], b["pg"],
                        b["heap"], b["index"], b["wal"], b["wal_written"]))
print()
print("Medians of %d runs per system, alternating. *rows/s end to end*: mqbase, the generator's first PUBLISH to its "
      "last PUBACK (a PUBACK leaves once the rows are fdatasync'ed); pg, the generator's start to the collector's last "
      "COMMIT. *bytes/row in table files*: mqbase's block files (`mqbase tables list`, rows in block files); pg's "
      "pg_total_relation_size (heap + index). *on disk incl. WAL*: mqbase `du -sb` of the data directory; pg the growth "
      "of the cluster's data directory (`du -sb`, pg_wal included) from just after CREATE TABLE. *server-side CPU s*: "
      "mqbase; or mosquitto + collector + postgres (all its processes). *other processes' CPU s*: what the rest of the "
      "machine used meanwhile (/proc/stat over the run, less the processes named): the cores it took were not ours. "
      "*seconds*: the span that rows/s divides by.%s" % (max(
          [int(d["run"]) for d in runs] or [0]), "" if nice == "0" else
          " Every process of both systems and the generator ran at nice %s." % nice))
if os.path.exists(pg_settings):
    notes.append("- PostgreSQL settings (initdb defaults, as the server reported them): %s"
                 % open(pg_settings).read().strip())
if notes:
    print()
    print("\n".join(notes))
EOF

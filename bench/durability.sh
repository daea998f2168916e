#!/usr/bin/env bash
# bench/durability.sh — what mqbase's write-ahead log costs, and how it recovers, next to
# Debian's mosquitto with persistence on.
#
# Builds nothing: it needs the release binary (`make release`; `make bench-durability` does
# both). Conventions as in bench/compare.sh: each broker runs on core BENCH_BROKER_CORE (0,
# taskset), the load on BENCH_LOAD_CORE (1); a fresh broker per run, brokers alternating from run
# to run, medians of BENCH_RUNS; brokers stopped by their own PIDs; temp dirs removed at exit.
#
# 1. QoS 1 fan-in 16->1 to a persistent subscriber (`mqbase bench fanin ... --persistent`: the
#    subscriber connects with clean session 0, so every message goes to a session that outlives
#    its connection): mqbase with storage.durability "sync", "batch" (batch_interval_ms 10) and
#    "none", and mosquitto with `persistence true`, `autosave_interval 1` and
#    `max_queued_messages 0`. Throughput, broker CPU, latency, loss, loss after PUBACK, and the
#    bytes written to the data directory's disk per delivered message (its sectors written in
#    /proc/diskstats, from before the broker starts to after it stopped and `sync` returned).
# 2. Recovery: a persistent subscriber's session (mosquitto_sub -c) with BENCH_RECOVERY_MESSAGES
#    (1,000,000) QoS 1 64-byte messages queued while it is offline. mqbase sync is killed with
#    SIGKILL, mosquitto stopped with SIGTERM (it saves only then); each is restarted on its data
#    and timed from process start to ready (mqbase: its --ready-file; mosquitto: its port
#    accepts); then its resident memory, and the subscriber drains the queue: received, unique,
#    lost against what the publishers had acknowledged.
#
# The results replace what is between <!-- durability:begin --> and <!-- durability:end --> in
# docs/benchmarks.md (BENCH_DOC) and are printed.
#
# Knobs (environment): MQBASE_BIN, MOSQUITTO, BENCH_RUNS (3), BENCH_DURATION (10 s measured),
# BENCH_WARMUP (2 s), BENCH_BROKER_CORE (0), BENCH_LOAD_CORE (1), BENCH_RECOVERY_MESSAGES
# (1000000), BENCH_PUBLISH_MAX (240 s at most publishing them, per broker), BENCH_DOC,
# BENCH_ONLY (fanin or recovery: that part alone, the doc left alone), BENCH_SUB_WINDOW (1000:
# each broker's max_inflight_messages), BENCH_RECOVERY_BROKERS ("mqbase sync,mosquitto": whose
# restart is measured, e.g. "mqbase sync" alone for 10 M messages), BENCH_FANIN_BROKERS ("mqbase
# sync,mqbase batch,mqbase none,mosquitto": the fan-in's brokers; a mode may carry [storage]
# settings after "+", e.g. "mqbase sync+preallocate=true" for an A/B of one setting),
# BENCH_FANIN_INFLIGHT (32: each publisher's QoS 1 messages in flight).
#
# Self-contained on purpose: compare.sh's broker start knows neither durability modes, nor a
# data directory that outlives the broker, nor restarts, and changing it would change the
# figures it produces.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MQBASE=${MQBASE_BIN:-$ROOT/build/release/mqbase}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
MOSQUITTO_SUB=${MOSQUITTO_SUB:-mosquitto_sub}
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
BROKER_CORE=${BENCH_BROKER_CORE:-0}
LOAD_CORE=${BENCH_LOAD_CORE:-1}
DOC=${BENCH_DOC:-$ROOT/docs/benchmarks.md}
ONLY=${BENCH_ONLY:-}
RECOVERY_MESSAGES=${BENCH_RECOVERY_MESSAGES:-1000000}
PUBLISH_MAX=${BENCH_PUBLISH_MAX:-240}
RECOVERY_BROKERS=${BENCH_RECOVERY_BROKERS:-mqbase sync,mosquitto}
BATCH_INTERVAL_MS=10
# The broker's window to the subscriber (mqbase limits.max_inflight_messages, mosquitto
# max_inflight_messages; both default to 20): with 20 the one subscriber's round trips, not the
# store, set the pace of every mode.
SUB_WINDOW=${BENCH_SUB_WINDOW:-1000}
PY=/usr/bin/python3

FANIN_ARGS="fanin -c 16 --qos 1 --size 64 --inflight ${BENCH_FANIN_INFLIGHT:-32} --persistent"
IFS=, read -r -a FANIN_BROKERS <<<"${BENCH_FANIN_BROKERS:-mqbase sync,mqbase batch,mqbase none,mosquitto}"
RQ_CLIENT=rq-durability-sub   # the recovery test's persistent subscriber
RQ_PUBLISHERS=8

die() { echo "durability.sh: $*" >&2; exit 1; }
[[ -x $MQBASE ]] || die "no mqbase binary at $MQBASE (run 'make release' first)"
[[ -x $MOSQUITTO ]] || die "no mosquitto at $MOSQUITTO (apt-get install mosquitto)"
command -v "$MOSQUITTO_SUB" >/dev/null || die "no $MOSQUITTO_SUB (apt-get install mosquitto-clients)"
command -v taskset >/dev/null || die "taskset is missing (util-linux)"
"$MQBASE" bench fanin --help 2>/dev/null | grep -q -- --persistent ||
  die "$MQBASE has no 'bench fanin --persistent' (an older build?)"
if (( $(nproc) < 2 )); then
  echo "durability.sh: one core only: broker and load generator will share it" >&2
  LOAD_CORE=$BROKER_CORE
fi

WORK=$(mktemp -d /tmp/mqbase-durability.XXXXXX)
# A copy of the binary: a rebuild of build/release during the run cannot mix two builds.
MQBASE_BUILT=$(date -u -r "$MQBASE" '+%Y-%m-%d %H:%M UTC')
cp "$MQBASE" "$WORK/mqbase"
MQBASE=$WORK/mqbase
BROKER_PID=""
SUB_PID=""
cleanup() {
  if [[ -n $SUB_PID ]]; then kill "$SUB_PID" 2>/dev/null || true; wait "$SUB_PID" 2>/dev/null || true; fi
  if [[ -n $BROKER_PID ]]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# mosquitto started as root changes to the user "mosquitto", which could not write its
# database into this root-only temp dir: keep it root (it warns once on stderr).
MOSQUITTO_USER=""
(( EUID != 0 )) || MOSQUITTO_USER="user root"

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT TIMEOUT_S T0: waits until PORT accepts; prints the seconds since T0 (epoch).
wait_port() {
  $PY - "$1" "$2" "$3" <<'EOF'
import socket, sys, time
port, deadline, t0 = int(sys.argv[1]), time.monotonic() + float(sys.argv[2]), float(sys.argv[3])
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        print("%.3f" % (time.time() - t0))
        sys.exit(0)
    except OSError:
        time.sleep(0.005)
sys.exit(1)
EOF
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# Bytes written to the block device that holds WORK (/proc/diskstats, sectors of 512 bytes).
# The process's own write_bytes would be simpler, but Linux counts there every page a write
# dirties again, which for a file overwritten in place (a preallocated log segment) comes to
# about 1 MiB per write + fdatasync, far more than reaches the disk. The device's count also
# takes in what other processes write meanwhile: on a quiet machine, little.
DISK_DEV=$(basename "$(findmnt -no SOURCE -T /tmp 2>/dev/null || echo unknown)")
disk_bytes() { awk -v d="$DISK_DEV" '$3 == d {printf "%.0f\n", $10 * 512; found = 1} END {if (!found) print 0}' /proc/diskstats; }

# start_mqbase MODE DATA_DIR LOG_LEVEL LIMITS: mqbase --threads 1 on the broker core with
# storage.durability MODE on DATA_DIR (MODE "sync+key=value+...": those [storage] settings
# too); LIMITS: lines of [limits]. Sets BROKER_PID, PORT, BROKER_DIR (its config and logs) and
# READY_S (process start to ready file, seconds).
start_mqbase() {
  local mode=${1%%+*} extra="" data=$2 level=$3 limits=$4 t0 i
  [[ $1 == *+* ]] && extra=$(tr '+' '\n' <<<"${1#*+}")
  BROKER_DIR=$(mktemp -d "$WORK/mqbase-$mode.XXXXXX")
  PORT=$(free_port)
  cat >"$BROKER_DIR/mqbase.toml" <<EOF
[server]
data_dir = "$data"

[storage]
durability = "$mode"
batch_interval_ms = $BATCH_INTERVAL_MS
$extra

[log]
level = "warn"

[limits]
$limits
EOF
  t0=$EPOCHREALTIME
  START_T0=$t0
  taskset -c "$BROKER_CORE" "$MQBASE" serve --threads 1 --port "$PORT" --config "$BROKER_DIR/mqbase.toml" \
    --log-level "$level" --ready-file "$BROKER_DIR/ready.json" >"$BROKER_DIR/stdout.log" 2>"$BROKER_DIR/stderr.log" &
  BROKER_PID=$!
  for ((i = 0; i < 60000; i++)); do  # up to 10 minutes of recovery
    [[ -f $BROKER_DIR/ready.json ]] && break
    kill -0 "$BROKER_PID" 2>/dev/null || die "mqbase exited at start: $(tail -5 "$BROKER_DIR/stderr.log")"
    sleep 0.01
  done
  [[ -f $BROKER_DIR/ready.json ]] || die "mqbase did not become ready"
  # The ready file's mtime is when mqbase wrote it (not when the poll saw it).
  READY_S=$($PY -c 'import os,sys; print("%.3f" % (os.stat(sys.argv[1]).st_mtime - float(sys.argv[2])))' \
              "$BROKER_DIR/ready.json" "$t0")
}

# start_mosquitto PERSISTENCE_DIR: mosquitto on the broker core, persisting into that dir. Sets
# BROKER_PID, PORT, BROKER_DIR, READY_S (process start to its port accepting).
start_mosquitto() {
  local pdir=$1 t0
  BROKER_DIR=$(mktemp -d "$WORK/mosquitto.XXXXXX")
  PORT=$(free_port)
  mkdir -p "$pdir"
  cat >"$BROKER_DIR/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
persistence true
persistence_location $pdir/
autosave_interval 1
max_queued_messages 0
max_inflight_messages $SUB_WINDOW
log_dest file $BROKER_DIR/mosquitto.log
log_type error
log_type warning
$MOSQUITTO_USER
EOF
  t0=$EPOCHREALTIME
  taskset -c "$BROKER_CORE" "$MOSQUITTO" -c "$BROKER_DIR/mosquitto.conf" >"$BROKER_DIR/stdout.log" 2>"$BROKER_DIR/stderr.log" &
  BROKER_PID=$!
  READY_S=$(wait_port "$PORT" 600 "$t0") ||
    die "mosquitto did not accept on $PORT: $(tail -5 "$BROKER_DIR/stderr.log")"
}

# stop_broker [SIGNAL]: stops the broker by its PID (SIGTERM by default) and waits for it; sets
# STOP_S, how long that took.
stop_broker() {
  local t0=$EPOCHREALTIME
  STOP_S=0
  [[ -n $BROKER_PID ]] || return 0
  kill "-${1:-TERM}" "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
  STOP_S=$($PY -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$EPOCHREALTIME")
}

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
FANIN=$WORK/fanin.jsonl
RECOVERY=$WORK/recovery.jsonl
: >"$FANIN"
: >"$RECOVERY"

# ---- 1. QoS 1 fan-in to a persistent subscriber ----------------------------------------------

# measure BROKER RUN: one fan-in run against a fresh broker; appends a line to FANIN.
measure() {
  local broker=$1 run=$2 line wb0 wb1
  sync
  wb0=$(disk_bytes)
  case $broker in
    "mqbase "*) start_mqbase "${broker#mqbase }" "$WORK/data-run" warn "max_inflight_messages = $SUB_WINDOW" ;;
    mosquitto) start_mosquitto "$WORK/mosquitto-run" ;;
  esac
  # shellcheck disable=SC2086
  line=$(taskset -c "$LOAD_CORE" "$MQBASE" bench $FANIN_ARGS -p "$PORT" --duration "$DURATION" --warmup "$WARMUP" \
           --json --quiet --broker-pid "$BROKER_PID" 2>>"$WORK/bench.stderr" || true)
  stop_broker
  sync
  wb1=$(disk_bytes)
  rm -rf "$WORK/data-run" "$WORK/mosquitto-run"
  [[ -n $line ]] || line='{"error": "no output from mqbase bench"}'
  printf '{"broker": "%s", "run": %d, "write_bytes": %d, "result": %s}\n' "$broker" "$run" "$((wb1 - wb0))" "$line" >>"$FANIN"
  $PY -c 'import json,sys; d=json.loads(sys.argv[1]); r=d["result"]; rc=r.get("received",0)
print("%-13s run %d: %9.0f msg/s  broker %5.1f %%  p50 %7.0f us  p99 %7.0f us  lost %d (%d after ack)  %s B/msg to disk %s" % (
    d["broker"], d["run"], r.get("msgs_per_sec",0), r.get("broker_cpu_pct",-1), r.get("p50_us",0), r.get("p99_us",0),
    r.get("lost",0), r.get("lost_acked",0), "%.1f" % (d["write_bytes"] / rc) if rc else "n/a", r.get("error","")))' "$(tail -1 "$FANIN")"
}

if [[ -z $ONLY || $ONLY == fanin ]]; then
  n=${#FANIN_BROKERS[@]}
  for ((run = 1; run <= RUNS; run++)); do
    for ((i = 0; i < n; i++)); do
      measure "${FANIN_BROKERS[$(( (i + run - 1) % n ))]}" "$run"
    done
  done
fi

# ---- 2. recovery with a million messages queued ----------------------------------------------

# publish_n N: QoS 1 64-byte messages to rq/<i> from RQ_PUBLISHERS publishers until the broker
# has acknowledged N (rate-limited chunks of `mqbase bench pub`, each asking for what is left),
# or PUBLISH_MAX seconds have passed. Sets PUB_SENT, PUB_ACKED, PUB_S.
publish_n() {
  local want=$1 t0=$EPOCHREALTIME left chunk=5 rate line
  PUB_SENT=0
  PUB_ACKED=0
  while :; do
    left=$(( want - PUB_ACKED ))
    (( left > 0 )) || break
    (( $($PY -c 'import sys,time; print(int(time.time() - float(sys.argv[1])))' "$t0") < PUBLISH_MAX )) || break
    if (( left < 10000 )); then chunk=1; fi
    rate=$(( (left + chunk - 1) / chunk ))
    line=$(taskset -c "$LOAD_CORE" "$MQBASE" bench pub -c "$RQ_PUBLISHERS" --qos 1 --size 64 --topic 'rq/%i' -p "$PORT" \
             --rate "$rate" --duration "$chunk" --json --quiet 2>>"$WORK/bench.stderr" || true)
    [[ -n $line ]] || die "mqbase bench pub printed nothing: $(tail -3 "$WORK/bench.stderr")"
    read -r s a < <($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["sent"], d["acked"])' "$line")
    PUB_SENT=$(( PUB_SENT + s ))
    PUB_ACKED=$(( PUB_ACKED + a ))
    echo "  published $PUB_ACKED of $want (acknowledged)"
  done
  PUB_S=$($PY -c 'import sys,time; print("%.1f" % (time.time() - float(sys.argv[1])))' "$t0")
}

# drain: the persistent subscriber takes its queue (printing each payload in hex, one line
# each) until nothing more came for 5 s. Sets DRAIN_RECEIVED, DRAIN_UNIQUE, DRAIN_S (until the
# last message).
drain() {
  local out=$WORK/drain.txt t0=$EPOCHREALTIME n last=-1 quiet=0 t_last
  t_last=$t0
  taskset -c "$LOAD_CORE" "$MOSQUITTO_SUB" -p "$PORT" -c -i "$RQ_CLIENT" -q 1 -t 'rq/#' -F '%x' \
    >"$out" 2>"$WORK/drain.stderr" &
  SUB_PID=$!
  while (( quiet < 10 )); do
    sleep 0.5
    n=$(wc -l <"$out")
    if (( n != last )); then
      last=$n
      quiet=0
      t_last=$EPOCHREALTIME
    elif (( n > 0 )) || [[ $($PY -c 'import sys,time; print(int(time.time() - float(sys.argv[1]) > 30))' "$t0") == 1 ]]; then
      quiet=$((quiet + 1))
    fi
    kill -0 "$SUB_PID" 2>/dev/null || break
  done
  kill "$SUB_PID" 2>/dev/null || true
  wait "$SUB_PID" 2>/dev/null || true
  SUB_PID=""
  DRAIN_RECEIVED=$(wc -l <"$out")
  DRAIN_UNIQUE=$(LC_ALL=C sort -u -S 256M -T "$WORK" "$out" | wc -l)
  DRAIN_S=$($PY -c 'import sys; print("%.1f" % (float(sys.argv[1]) - float(sys.argv[2])))' "$t_last" "$t0")
  rm -f "$out"
}

# recovery BROKER: the whole sequence against "mqbase sync" or "mosquitto"; appends to RECOVERY.
recovery() {
  local broker=$1 data=$WORK/recovery-data rss_before rss_after disk first_ready stop_signal stop_s recovered="" timeline="- -"
  rm -rf "$data"
  echo "recovery, $broker:"
  # mqbase: no limit on the offline session's queue (its defaults, 1000 messages and 64 MiB,
  # would drop the rest); mosquitto: max_queued_messages 0 (max_queued_bytes is 0 by default).
  local limits="max_queued_messages = 0
max_queued_bytes = 0"
  if [[ $broker == mosquitto ]]; then start_mosquitto "$data"; else start_mqbase sync "$data" info "$limits"; fi
  first_ready=$READY_S
  taskset -c "$LOAD_CORE" "$MOSQUITTO_SUB" -p "$PORT" -c -i "$RQ_CLIENT" -q 1 -t 'rq/#' -E ||
    die "$broker: the persistent subscriber could not subscribe"
  publish_n "$RECOVERY_MESSAGES"
  sleep 1.5  # mosquitto: one autosave after the last message, as a running broker would have
  rss_before=$(rss_kb "$BROKER_PID")
  if [[ $broker == mosquitto ]]; then stop_signal=TERM; else stop_signal=KILL; fi
  stop_broker "$stop_signal"
  stop_s=$STOP_S
  disk=$(du -sb "$data" | cut -f1)
  echo "  stopped with SIG$stop_signal in $stop_s s; $disk bytes on disk; restarting"
  if [[ $broker == mosquitto ]]; then start_mosquitto "$data"; else start_mqbase sync "$data" info "$limits"; fi
  sleep 1
  rss_after=$(rss_kb "$BROKER_PID")
  if [[ $broker != mosquitto ]]; then
    recovered=$(grep -o 'recovered [0-9]* sessions.*' "$BROKER_DIR/stderr.log" | tail -1 || true)
    # When (after the process start) its log says the WAL was read, and the sessions rebuilt.
    timeline=$($PY - "$BROKER_DIR/stderr.log" "$START_T0" <<'PYEOF'
import datetime, sys
t0, read, rebuilt = float(sys.argv[2]), None, None
for line in open(sys.argv[1]):
    try:
        t = datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f").timestamp() - t0
    except ValueError:
        continue
    if "store: recovery: done" in line:
        read = t
    elif " recovered " in line:
        rebuilt = t
print("%s %s" % ("%.2f" % read if read is not None else "-", "%.2f" % rebuilt if rebuilt is not None else "-"))
PYEOF
)
  fi
  echo "  ready after $READY_S s${recovered:+ ($recovered)}; RSS $((rss_after / 1024)) MiB; draining"
  drain
  stop_broker
  echo "  received $DRAIN_RECEIVED ($DRAIN_UNIQUE unique) of $PUB_ACKED acknowledged, in $DRAIN_S s"
  $PY - "$broker" "$first_ready" "$PUB_SENT" "$PUB_ACKED" "$PUB_S" "$rss_before" "$stop_signal" "$stop_s" "$disk" \
    "$READY_S" "$recovered" "$rss_after" "$DRAIN_RECEIVED" "$DRAIN_UNIQUE" "$DRAIN_S" "$timeline" >>"$RECOVERY" <<'EOF'
import json, sys
a = sys.argv[1:]
read, rebuilt = a[15].split()
print(json.dumps({"broker": a[0], "first_start_s": float(a[1]), "sent": int(a[2]), "acked": int(a[3]),
                  "publish_s": float(a[4]), "rss_before_kb": int(a[5]), "stop_signal": a[6], "stop_s": float(a[7]),
                  "disk_bytes": int(a[8]), "ready_s": float(a[9]), "recovered": a[10], "rss_after_kb": int(a[11]),
                  "received": int(a[12]), "unique": int(a[13]), "drain_s": float(a[14]),
                  "log_read_at_s": None if read == "-" else float(read),
                  "sessions_rebuilt_at_s": None if rebuilt == "-" else float(rebuilt)}))
EOF
  rm -rf "$data"
}

if [[ -z $ONLY || $ONLY == recovery ]]; then
  IFS=, read -r -a recovery_brokers <<<"$RECOVERY_BROKERS"
  for b in "${recovery_brokers[@]}"; do recovery "$b"; done
fi

# ---- the tables ------------------------------------------------------------------------------
WRITE_DOC=1
[[ -z $ONLY ]] || WRITE_DOC=0
$PY - "$FANIN" "$RECOVERY" "$DOC" "$WRITE_DOC" "$RUNS" "$DURATION" "$WARMUP" "$BROKER_CORE" "$LOAD_CORE" "$MQBASE" \
  "$MOSQUITTO" "$ROOT" "$FANIN_ARGS" "$BATCH_INTERVAL_MS" "$RECOVERY_MESSAGES" "$RQ_PUBLISHERS" "$MQBASE_BUILT" \
  "$LOAD_START" "$(cut -d' ' -f1 /proc/loadavg)" "$SUB_WINDOW" <<'EOF'
import datetime, json, os, re, statistics, subprocess, sys

(fanin, recovery, doc, write_doc, runs, duration, warmup, bcore, lcore, mqbase, mosquitto, root, fanin_args,
 batch_ms, rq_messages, rq_publishers, mqbase_built, load_start, load_end, sub_window) = sys.argv[1:21]

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def fmt(v, spec="{:,.0f}"):
    return "n/a" if v is None else spec.format(v)

def pick(rs, f):
    out = []
    for r in rs:
        try:
            out.append(f(r))
        except (KeyError, TypeError, ZeroDivisionError):
            pass
    return median(out)

sys.path.insert(0, os.path.join(root, "bench"))
from benchlib import machine, version  # noqa: E402

model, nproc, rev = machine(root)
fs = version(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", "/tmp"])

out = []
notes = []
out.append("Measured %s on %s CPUs (%s); %s binary built %s (the tree was at `%s` when measured), %s; data directories on %s (`/tmp`). "
           "Broker pinned to core %s (mqbase `--threads 1`), load generator (`mqbase bench`) to core %s; "
           "64-byte payloads, QoS 1. Load average (1 min) at the start / end: %s / %s (the script itself adds up to "
           "2; more means other work competed for the pinned cores)." % (
    datetime.date.today().isoformat(), nproc, model, version([mqbase, "--version"]), mqbase_built, rev,
    version([mosquitto, "-h"]), " ".join((fs or "?").split()), bcore, lcore, load_start, load_end))
out.append("")

rows = {}
for line in open(fanin):
    d = json.loads(line)
    rows.setdefault(d["broker"], []).append(d)
if rows:
    out.append("QoS 1 fan-in to a persistent subscriber (`mqbase bench %s`): %s s measured after %s s of warm-up, "
               "median of %s runs per broker, alternating, a fresh broker and data directory per run. mqbase "
               "`storage.durability` sync, batch (`batch_interval_ms = %s`) and none, `limits.max_inflight_messages = %s`, "
               "default limits otherwise; mosquitto with `persistence true`, `autosave_interval 1`, "
               "`max_queued_messages 0`, `max_inflight_messages %s` (the broker's window to the subscriber; both "
               "default to 20, which makes the subscriber's round trips, not the disk, the limit). *lost* and "
               "*lost after PUBACK* per run; *disk bytes per message*: what the data directory's disk "
               "(`/proc/diskstats`) was written from the broker's start to after its stop and a `sync` (the broker's "
               "start, warm-up and journal included; anything else writing meanwhile too), divided by the messages "
               "delivered."
               % (fanin_args, duration, warmup, runs, batch_ms, sub_window, sub_window))
    out.append("")
    out.append("| broker | delivered msg/s | per run | ÷ mqbase none | broker CPU % | msgs per broker CPU-second "
               "| generator CPU % | p50 µs | p99 µs | lost | lost after PUBACK | disk bytes per message |")
    out.append("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |")
    rate = {b: pick(rs, lambda d: d["result"]["msgs_per_sec"]) for b, rs in rows.items()}
    none = rate.get("mqbase none")
    for b in rows:
        rs = rows.get(b)
        if not rs:
            continue
        res = [d["result"] for d in rs]
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            b, fmt(rate[b]), " / ".join(fmt(r.get("msgs_per_sec")) for r in res),
            fmt(rate[b] / none if rate[b] is not None and none else None, "{:.2f}"),
            fmt(pick(res, lambda r: r["broker_cpu_pct"] if r["broker_cpu_pct"] >= 0 else None), "{:.0f}"),
            fmt(pick(res, lambda r: r["msgs_per_sec"] / (r["broker_cpu_pct"] / 100.0))),
            fmt(pick(res, lambda r: r["bench_cpu_pct"]), "{:.0f}"),
            fmt(pick(res, lambda r: r["p50_us"])), fmt(pick(res, lambda r: r["p99_us"])),
            " / ".join("{:,}".format(r.get("lost", 0)) for r in res),
            " / ".join("{:,}".format(r.get("lost_acked", 0)) for r in res),
            fmt(pick(rs, lambda d: d["write_bytes"] / d["result"]["received"]), "{:.1f}")))
        for r in res:
            if r.get("error"):
                notes.append("- fan-in, %s: %s" % (b, r["error"]))
            if b.startswith("mqbase") and r.get("lost_acked", 0):
                notes.append("- fan-in, %s: %d messages lost after their PUBACK (a bug: nothing acknowledged "
                             "may be lost)" % (b, r["lost_acked"]))
    sync = rate.get("mqbase sync")
    batch = rate.get("mqbase batch")
    if sync and none:
        out.append("")
        out.append("sync / none = %.2f%s." % (sync / none, "; batch / none = %.2f" % (batch / none) if batch else ""))
    out.append("")

rec = [json.loads(l) for l in open(recovery)]
if rec:
    out.append("Recovery: one persistent subscriber (`mosquitto_sub -c -q 1 -t 'rq/#' -E`) goes offline, %s "
               "publishers (`mqbase bench pub -c %s --qos 1 --size 64 --topic 'rq/%%i'`, rate-limited chunks) "
               "publish until %s messages are acknowledged; the broker is stopped (mqbase sync: `kill -9`; mosquitto: "
               "SIGTERM, since it saves only then or at its next autosave) and restarted on the same data; "
               "*start to ready*: process start to mqbase's `--ready-file` / to mosquitto's port accepting (polled by a "
               "Python loop, whose own start puts a floor of about 40 ms under mosquitto's figures); RSS 1 s later; then the subscriber reconnects and drains its queue (until nothing came for 5 s; one `mosquitto_sub`, so "
               "the drain rate is that client's pace with 20 messages in flight, not a broker limit). mqbase with "
               "`max_queued_messages = 0` and `max_queued_bytes = 0` (no limit on the offline queue), mosquitto as "
               "above." % (rq_publishers, rq_publishers, "{:,}".format(int(rq_messages))))
    out.append("")
    cols = [r["broker"] for r in rec]
    out.append("| | " + " | ".join(cols) + " |")
    out.append("| --- |" + " ---: |" * len(cols))
    def row(name, f):
        vals = []
        for r in rec:
            try:
                vals.append(f(r))
            except (KeyError, TypeError, ZeroDivisionError, ValueError):
                vals.append("n/a")
        out.append("| %s | %s |" % (name, " | ".join(vals)))
    row("messages published / acknowledged", lambda r: "{:,} / {:,}".format(r["sent"], r["acked"]))
    row("time to publish them, s", lambda r: "%.1f" % r["publish_s"])
    row("RSS with the queue, before the stop, MiB", lambda r: "%.0f" % (r["rss_before_kb"] / 1024.0))
    row("stopped with", lambda r: "SIG%s, %.2f s" % (r["stop_signal"], r["stop_s"]))
    row("data on disk, MiB (bytes per message)", lambda r: "%.1f (%.0f)" % (r["disk_bytes"] / 1048576.0, r["disk_bytes"] / r["acked"]))
    row("empty broker: start to ready, s", lambda r: "%.3f" % r["first_start_s"])
    row("**restart: start to ready, s**", lambda r: "**%.2f**" % r["ready_s"])
    row("the broker's own account", lambda r: re.sub(r" from \S+", "", r["recovered"]) or "-")
    row("its log: WAL read / sessions rebuilt, s after start",
        lambda r: "%.2f / %.2f" % (r["log_read_at_s"], r["sessions_rebuilt_at_s"]) if r["log_read_at_s"] is not None else "-")
    row("**RSS after recovery, MiB**", lambda r: "**%.0f**" % (r["rss_after_kb"] / 1024.0))
    row("received by the subscriber (unique)", lambda r: "{:,} ({:,})".format(r["received"], r["unique"]))
    row("lost (acknowledged, never received)", lambda r: "{:,}".format(max(r["acked"] - r["unique"], 0)))
    row("drain time, s (msg/s)", lambda r: "%.1f (%s)" % (r["drain_s"], "{:,.0f}".format(r["unique"] / r["drain_s"]) if r["drain_s"] > 0 else "n/a"))
    for r in rec:
        if r["broker"].startswith("mqbase") and r["unique"] < r["acked"]:
            notes.append("- recovery, %s: %d acknowledged messages not received after the restart (a bug)"
                         % (r["broker"], r["acked"] - r["unique"]))
        if r["unique"] > r["sent"]:
            notes.append("- recovery, %s: %d unique messages received but only %d published" % (r["broker"], r["unique"], r["sent"]))
    out.append("")
if notes:
    out.append("Problems seen in the runs:")
    out.append("")
    out.extend(notes)
    out.append("")

print("\n".join(out))
if write_doc != "1":
    print("BENCH_ONLY set: %s left alone" % doc)
    sys.exit(0)
text = open(doc).read()
begin, end = "<!-- durability:begin -->", "<!-- durability:end -->"
if begin not in text or end not in text:
    sys.exit("durability.sh: %s has no %s / %s markers" % (doc, begin, end))
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc, "w").write(head + begin + "\n" + "\n".join(out) + "\n" + end + tail)
print("written to %s" % doc)
EOF

#!/usr/bin/env bash
# bench/compare.sh — mqbase and Debian's mosquitto side by side, under `mqbase bench`.
#
# Builds nothing: it needs the release binary (`make release`; `make bench` does both). Each
# broker runs on core 0 (taskset), the load generator on core 1, so the figures are "what
# one core of broker does". Every scenario runs BENCH_RUNS times per broker, alternating
# brokers, each run on a freshly started broker; the table shows medians. Then an idle-
# connections scenario: 19,000 connections held by several `mqbase bench conn` processes
# (a process may have at most `ulimit -Hn` open files here), and the broker's resident memory
# growth per connection. Then a full subscriber queue: QoS 1 fan-in against mqbase with
# limits.queue_full_policy "backpressure" and "drop", and mosquitto (throughput and messages
# lost after their PUBACK). Then the storm: fan-in undisturbed, then while BENCH_STORM_RATE
# clients per second connect, subscribe to 10 filters and disconnect, mqbase against mosquitto.
# Last, threads: mqbase with --threads 1 and --threads 2, to show whether
# a second loop adds throughput or only contention. With 4 or more cores the broker gets cores
# 0-1 and the generator (itself with 2 loops) the rest; with fewer, broker and generator are
# both free to use BENCH_BROKER_CORE and BENCH_LOAD_CORE (and compete for them).
#
# The results replace what is between <!-- bench:begin --> and <!-- bench:end --> in
# docs/benchmarks.md (BENCH_DOC). Brokers are stopped by their own PIDs; temp dirs removed.
#
# Knobs (environment): MQBASE_BIN, MOSQUITTO, BENCH_RUNS (3), BENCH_DURATION (10 s measured),
# BENCH_WARMUP (2 s), BENCH_IDLE_CONNECTIONS (19000), BENCH_IDLE_PROCESSES (4),
# BENCH_BROKER_CORE (0), BENCH_LOAD_CORE (1), BENCH_THREADS_BROKER_CORES and
# BENCH_THREADS_LOAD_CORES (taskset lists for the threads table), BENCH_THREADS_LOAD_THREADS
# (the generator's loops there), BENCH_STORM_RATE (5000), BENCH_DOC, BENCH_ONLY (a scenario
# name, or conn, policy, storm, threads, for a quick look; the doc is then left alone).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MQBASE=${MQBASE_BIN:-$ROOT/build/release/mqbase}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-19000}
IDLE_PROCESSES=${BENCH_IDLE_PROCESSES:-4}
BROKER_CORE=${BENCH_BROKER_CORE:-0}
LOAD_CORE=${BENCH_LOAD_CORE:-1}
DOC=${BENCH_DOC:-$ROOT/docs/benchmarks.md}
ONLY=${BENCH_ONLY:-}
STORM_RATE=${BENCH_STORM_RATE:-5000}
PY=/usr/bin/python3

# label | arguments of `mqbase bench`
SCENARIOS=(
  "fanin 16->1 QoS 0 64 B|fanin -c 16 --qos 0 --size 64"
  "fanout 1->16 QoS 0 64 B|fanout -c 16 --qos 0 --size 64"
  "fanin 16->1 QoS 1 64 B, inflight 32|fanin -c 16 --qos 1 --size 64 --inflight 32"
  "latency 10k msg/s QoS 0 64 B|latency --rate 10000 --qos 0 --size 64"
  "p2p 16 pairs QoS 0 64 B|p2p -c 16 --qos 0 --size 64"
  "fanout 1->16 QoS 0 64 B, inflight 256|fanout -c 16 --qos 0 --size 64 --inflight 256"
)
# label | arguments: QoS 1 fan-in whose subscriber cannot keep up, per queue-full policy
POLICY_SCENARIO="fanin 16->1 QoS 1 64 B, inflight 32|fanin -c 16 --qos 1 --size 64 --inflight 32"
POLICY_BROKERS=("mqbase backpressure" "mqbase drop" "mosquitto")
# The subscriber's queue in that table, for both brokers: smaller than the 16 x 32 messages the
# publishers keep in flight, so it does fill (with the default 1000 it may not).
POLICY_QUEUE=${BENCH_POLICY_QUEUE:-100}
MOSQUITTO_EXTRA=""
# label | arguments: the undisturbed fan-in, then the same under the storm, in one run
STORM_SCENARIO="fanin 16->1 QoS 0 64 B, storm $STORM_RATE clients/s|fanin -c 16 --qos 0 --size 64 --storm $STORM_RATE"
# label | arguments: mqbase alone, 1 thread against 2 threads
THREAD_SCENARIOS=(
  "fanin 16->1 QoS 0 64 B|fanin -c 16 --qos 0 --size 64"
  "p2p 16 pairs QoS 0 64 B|p2p -c 16 --qos 0 --size 64"
  "fanout 1->16 QoS 0 64 B|fanout -c 16 --qos 0 --size 64"
  "p2p 16 pairs QoS 1 64 B, inflight 32|p2p -c 16 --qos 1 --size 64 --inflight 32"
)

die() { echo "compare.sh: $*" >&2; exit 1; }
[[ -x $MQBASE ]] || die "no mqbase binary at $MQBASE (run 'make release' first)"
[[ -x $MOSQUITTO ]] || die "no mosquitto at $MOSQUITTO (apt-get install mosquitto)"
command -v taskset >/dev/null || die "taskset is missing (util-linux)"
NPROC=$(nproc)
if (( NPROC < 2 )); then
  echo "compare.sh: one core only: broker and load generator will share it" >&2
  LOAD_CORE=$BROKER_CORE
fi

# Threads table placement: cores of its own for the generator when there are enough.
if (( NPROC >= 4 )); then
  T_BROKER_CORES=${BENCH_THREADS_BROKER_CORES:-0,1}
  T_LOAD_CORES=${BENCH_THREADS_LOAD_CORES:-2-$((NPROC - 1))}
  T_LOAD_THREADS=${BENCH_THREADS_LOAD_THREADS:-2}
else
  both="$BROKER_CORE,$LOAD_CORE"
  [[ $BROKER_CORE != "$LOAD_CORE" ]] || both=$BROKER_CORE
  T_BROKER_CORES=${BENCH_THREADS_BROKER_CORES:-$both}
  T_LOAD_CORES=${BENCH_THREADS_LOAD_CORES:-$both}
  T_LOAD_THREADS=${BENCH_THREADS_LOAD_THREADS:-1}
fi

WORK=$(mktemp -d /tmp/mqbase-compare.XXXXXX)
BROKER_PID=""
CONN_PIDS=()
cleanup() {
  for pid in "${CONN_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -n $BROKER_PID ]]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port, wait_port
source "$(dirname "$0")/lib.sh"

# start_broker NAME [THREADS CORES LIMITS]: starts a fresh broker pinned to BROKER_CORE (or
# CORES); LIMITS: lines for mqbase's [limits] section. Sets BROKER_PID and PORT.
start_broker() {
  local name=$1 threads=${2:-1} cores=${3:-$BROKER_CORE} limits=${4:-} dir
  dir=$(mktemp -d "$WORK/$name.XXXXXX")
  PORT=$(free_port)
  if [[ $name == mqbase ]]; then
    cat >"$dir/mqbase.toml" <<EOF
[server]
data_dir = "$dir/data"

[log]
level = "warn"

[limits]
$limits
EOF
    taskset -c "$cores" "$MQBASE" serve --threads "$threads" --port "$PORT" --config "$dir/mqbase.toml" \
      --ready-file "$dir/ready.json" >"$dir/stdout.log" 2>"$dir/stderr.log" &
    BROKER_PID=$!
    local i
    for ((i = 0; i < 1000; i++)); do
      [[ -f $dir/ready.json ]] && break
      kill -0 "$BROKER_PID" 2>/dev/null || die "mqbase exited at start: $(tail -5 "$dir/stderr.log")"
      sleep 0.01
    done
    [[ -f $dir/ready.json ]] || die "mqbase did not become ready"
  else
    cat >"$dir/mosquitto.conf" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
log_dest file $dir/mosquitto.log
log_type error
log_type warning
$MOSQUITTO_EXTRA
EOF
    taskset -c "$BROKER_CORE" "$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/stdout.log" 2>"$dir/stderr.log" &
    BROKER_PID=$!
    wait_port "$PORT" 10 || die "mosquitto did not accept on $PORT: $(tail -5 "$dir/stderr.log")"
  fi
}

stop_broker() {
  [[ -n $BROKER_PID ]] || return 0
  kill "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

RESULTS=$WORK/results.jsonl
IDLE=$WORK/idle.jsonl
THREADS=$WORK/threads.jsonl
POLICY=$WORK/policy.jsonl
STORM=$WORK/storm.jsonl
: >"$RESULTS"
: >"$IDLE"
: >"$THREADS"
: >"$POLICY"
: >"$STORM"

# measure OUT LABEL BROKER ARGS RUN: one run of `mqbase bench ARGS` on the load core against a
# fresh broker on the broker core; appends {"label", "broker", "run", "result"} to OUT and prints
# a line. BROKER: mosquitto, mqbase, or "mqbase <policy>" (limits.queue_full_policy).
measure() {
  local out=$1 label=$2 broker=$3 args=$4 run=$5 line
  case $broker in
    "mqbase "*) start_broker mqbase 1 "$BROKER_CORE" "queue_full_policy = \"${broker#mqbase }\"
max_queued_messages = $POLICY_QUEUE" ;;
    *) start_broker "$broker" ;;
  esac
  # shellcheck disable=SC2086
  line=$(taskset -c "$LOAD_CORE" "$MQBASE" bench $args -p "$PORT" --duration "$DURATION" --warmup "$WARMUP" \
           --json --quiet --broker-pid "$BROKER_PID" 2>>"$WORK/bench.stderr" || true)
  stop_broker
  [[ -n $line ]] || line='{"error": "no output from mqbase bench"}'
  printf '{"label": "%s", "broker": "%s", "run": %d, "result": %s}\n' "$label" "$broker" "$run" "$line" >>"$out"
  $PY -c 'import json,sys; d=json.loads(sys.argv[1]); r=d["result"]; print("%-40s %-19s run %d: %10.0f msg/s  broker %5.1f %%  p50 %8.1f us  p99 %8.1f us  lost %d (%d after ack)%s %s" % (d["label"], d["broker"], d["run"], r.get("msgs_per_sec",0), r.get("broker_cpu_pct",-1), r.get("p50_us",0), r.get("p99_us",0), r.get("lost",0), r.get("lost_acked",0), "  storm/calm %.2f" % r["storm_ratio"] if "storm_ratio" in r else "", r.get("error","")))' "$(tail -1 "$out")"
}

# measure_all OUT LABEL ARGS BROKER...: RUNS runs per broker, the order rotating each run so
# slow drifts of the machine hit every broker alike.
measure_all() {
  local out=$1 label=$2 args=$3 run i k
  shift 3
  local brokers=("$@") n=$#
  for ((run = 1; run <= RUNS; run++)); do
    for ((i = 0; i < n; i++)); do
      k=$(( (i + run - 1) % n ))
      measure "$out" "$label" "${brokers[$k]}" "$args" "$run"
    done
  done
}

# ---- throughput / latency scenarios ---------------------------------------------------------
for entry in "${SCENARIOS[@]}"; do
  [[ -z $ONLY || ${entry#*|} == "$ONLY"* ]] || continue
  measure_all "$RESULTS" "${entry%%|*}" "${entry#*|}" mqbase mosquitto
done

# ---- idle connections ----------------------------------------------------------------------
if [[ -z $ONLY || $ONLY == conn* ]]; then
  per=$(( (IDLE_CONNECTIONS + IDLE_PROCESSES - 1) / IDLE_PROCESSES ))
  for broker in mqbase mosquitto; do
    start_broker "$broker"
    sleep 0.5
    before=$(rss_kb "$BROKER_PID")
    CONN_PIDS=()
    left=$IDLE_CONNECTIONS
    for ((i = 0; i < IDLE_PROCESSES; i++)); do
      n=$(( left < per ? left : per ))
      left=$(( left - n ))
      taskset -c "$LOAD_CORE" "$MQBASE" bench conn -c "$n" --rate 5000 --duration 120 -p "$PORT" --json --quiet \
        --ready-file "$WORK/conn-$broker-$i.ready" >"$WORK/conn-$broker-$i.json" 2>>"$WORK/bench.stderr" &
      CONN_PIDS+=($!)
    done
    for ((t = 0; t < 1200; t++)); do
      ready=0
      for ((i = 0; i < IDLE_PROCESSES; i++)); do [[ -f $WORK/conn-$broker-$i.ready ]] && ready=$((ready + 1)); done
      (( ready == IDLE_PROCESSES )) && break
      sleep 0.1
    done
    sleep 1
    after=$(rss_kb "$BROKER_PID")
    for pid in "${CONN_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${CONN_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    CONN_PIDS=()
    stop_broker
    $PY - "$broker" "$before" "$after" "$WORK" "$IDLE_PROCESSES" >>"$IDLE" <<'EOF'
import json, sys
broker, before, after, work, procs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
connected = failed = 0
errors = []
for i in range(procs):
    try:
        with open("%s/conn-%s-%d.json" % (work, broker, i)) as f:
            d = json.loads(f.read().strip().splitlines()[-1])
        connected += d["connected"]
        failed += d["connect_failures"]
        if d.get("error"):
            errors.append(d["error"])
    except Exception as e:  # a process that printed nothing
        errors.append("conn process %d: %s" % (i, e))
print(json.dumps({"broker": broker, "rss_before_kb": before, "rss_after_kb": after,
                  "connected": connected, "failed": failed, "errors": errors[:3]}))
EOF
    tail -1 "$IDLE"
  done
fi

# ---- a full subscriber queue: backpressure against drop ----------------------------------------
if [[ -z $ONLY || $ONLY == policy ]]; then
  if grep -q queue_full_policy "$MQBASE"; then
    MOSQUITTO_EXTRA="max_queued_messages $POLICY_QUEUE"
    measure_all "$POLICY" "${POLICY_SCENARIO%%|*}" "${POLICY_SCENARIO#*|}" "${POLICY_BROKERS[@]}"
    MOSQUITTO_EXTRA=""
  else  # a binary from before the key: it would refuse the configuration
    echo "compare.sh: $MQBASE has no limits.queue_full_policy: full-queue table skipped" >&2
  fi
fi

# ---- the storm: fan-in undisturbed, then while clients come and go ---------------------------
if [[ -z $ONLY || $ONLY == storm ]]; then
  measure_all "$STORM" "${STORM_SCENARIO%%|*}" "${STORM_SCENARIO#*|}" mqbase mosquitto
fi

# ---- threads: 1 against 2, mqbase only ------------------------------------------------------
for entry in "${THREAD_SCENARIOS[@]}"; do
  label=${entry%%|*}
  args=${entry#*|}
  [[ -z $ONLY || $ONLY == threads ]] || continue
  for ((run = 1; run <= RUNS; run++)); do
    if (( run % 2 )); then order=(1 2); else order=(2 1); fi
    for threads in "${order[@]}"; do
      start_broker mqbase "$threads" "$T_BROKER_CORES"
      # shellcheck disable=SC2086
      line=$(taskset -c "$T_LOAD_CORES" "$MQBASE" bench $args -p "$PORT" --threads "$T_LOAD_THREADS" \
               --duration "$DURATION" --warmup "$WARMUP" --json --quiet --broker-pid "$BROKER_PID" \
               2>>"$WORK/bench.stderr" || true)
      stop_broker
      [[ -n $line ]] || line='{"error": "no output from mqbase bench"}'
      printf '{"label": "%s", "broker": "mqbase --threads %s", "run": %d, "result": %s}\n' "$label" "$threads" "$run" "$line" >>"$THREADS"
      tail -1 "$THREADS" | $PY -c 'import json,sys; d=json.loads(sys.stdin.read()); r=d["result"]; print("%-40s %-20s run %d: %10.0f msg/s  broker %5.1f %%  lost %d %s" % (d["label"], d["broker"], d["run"], r.get("msgs_per_sec",0), r.get("broker_cpu_pct",-1), r.get("lost",0), r.get("error","")))'
    done
  done
done

[[ -z $ONLY ]] || { echo "BENCH_ONLY set: $DOC left alone"; exit 0; }

# ---- the table -----------------------------------------------------------------------------
$PY - "$RESULTS" "$IDLE" "$DOC" "$RUNS" "$DURATION" "$WARMUP" "$BROKER_CORE" "$LOAD_CORE" "$MQBASE" "$MOSQUITTO" "$ROOT" "$THREADS" \
  "$T_BROKER_CORES" "$T_LOAD_CORES" "$T_LOAD_THREADS" "$POLICY" "$STORM" "$POLICY_QUEUE" <<'EOF'
import datetime, json, os, re, statistics, subprocess, sys

results, idle, doc, runs, duration, warmup, bcore, lcore, mqbase, mosquitto, root, threads = sys.argv[1:13]
t_bcores, t_lcores, t_lthreads, policy, storm, policy_queue = sys.argv[13:19]

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def fmt(v, spec="{:,.0f}"):
    return "n/a" if v is None else spec.format(v)

def grouped(path):
    """{(label, broker): [result, ...]} of a results file, and its labels in order of appearance."""
    groups, labels = {}, []
    for line in open(path):
        d = json.loads(line)
        if d["label"] not in labels:
            labels.append(d["label"])
        groups.setdefault((d["label"], d["broker"]), []).append(d["result"])
    return groups, labels

rows, order = grouped(results)

def pick(rs, f):
    """The median of f(result) over the runs, skipping runs that lack what f reads."""
    out = []
    for r in rs:
        try:
            out.append(f(r))
        except (KeyError, TypeError, ZeroDivisionError):
            pass
    return median(out)

def errors_of(rs):
    return sorted({r.get("error") for r in rs if r.get("error")})

def stats(rs):
    rate = pick(rs, lambda r: r["msgs_per_sec"])
    cpu = pick(rs, lambda r: r["broker_cpu_pct"] if r["broker_cpu_pct"] >= 0 else None)
    per_cpu = pick(rs, lambda r: r["msgs_per_sec"] / (r["broker_cpu_pct"] / 100.0))
    gen = pick(rs, lambda r: r["bench_cpu_pct"])
    p50 = pick(rs, lambda r: r["p50_us"])
    p99 = pick(rs, lambda r: r["p99_us"])
    loss = pick(rs, lambda r: 100.0 * r["lost"] / r["expected"] if r["expected"] else 0.0)
    return rate, cpu, per_cpu, gen, p50, p99, loss, errors_of(rs)

sys.path.insert(0, os.path.join(root, "bench"))
from benchlib import machine, version  # noqa: E402

model, nproc, rev = machine(root)
mq_version = version([mqbase, "--version"])
mosq_version = version([mosquitto, "-h"])

out = []
out.append("Measured %s on %s CPUs (%s); mqbase `%s` (%s), %s." % (
    datetime.date.today().isoformat(), nproc, model, rev, mq_version, mosq_version))
out.append("Broker pinned to core %s (mqbase `--threads 1`), load generator to core %s; %s s measured after %s s "
           "of warm-up; median of %s runs per broker, alternating brokers, a fresh broker per run." % (
    bcore, lcore, duration, warmup, runs))
out.append("")
out.append("| scenario | broker | delivered msg/s | broker CPU % | msgs per broker CPU-second | p50 µs | p99 µs | loss % | generator CPU % |")
out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
notes = []
for label in order:
    for broker in ("mqbase", "mosquitto"):
        rs = rows.get((label, broker))
        if not rs:
            continue
        rate, cpu, per_cpu, gen, p50, p99, loss, errors = stats(rs)
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, broker, fmt(rate), fmt(cpu, "{:.0f}"), fmt(per_cpu), fmt(p50, "{:,.0f}"),
            fmt(p99, "{:,.0f}"), fmt(loss, "{:.2f}"), fmt(gen, "{:.0f}")))
        for e in errors:
            notes.append("- %s, %s: %s" % (label, broker, e))
out.append("")
if idle and open(idle).read().strip():
    out.append("Idle connections: each broker alone on core %s, connections opened by several `mqbase bench conn` "
               "processes on core %s and held; resident memory (VmRSS) before and with all of them connected." % (bcore, lcore))
    out.append("")
    out.append("| broker | connections held | failed | RSS before MiB | RSS with connections MiB | bytes per connection |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for line in open(idle):
        d = json.loads(line)
        per = (d["rss_after_kb"] - d["rss_before_kb"]) * 1024.0 / d["connected"] if d["connected"] else None
        out.append("| %s | %s | %s | %.1f | %.1f | %s |" % (
            d["broker"], "{:,}".format(d["connected"]), d["failed"], d["rss_before_kb"] / 1024.0,
            d["rss_after_kb"] / 1024.0, fmt(per, "{:,.0f}")))
        for e in d["errors"]:
            notes.append("- idle connections, %s: %s" % (d["broker"], e))
    out.append("")

policy_rows, _ = grouped(policy)
if policy_rows:
    out.append("A subscriber that cannot keep up: QoS 1 fan-in 16->1, each publisher with 32 messages in flight "
               "(`mqbase bench fanin -c 16 --qos 1 --inflight 32`) against mqbase with each `limits.queue_full_policy` "
               "and mosquitto, the subscriber's queue set to %s messages in both (`max_queued_messages`), fewer than the "
               "16 x 32 in flight. *lost after PUBACK*: messages the broker acknowledged to their publisher and never "
               "delivered, in %% of the acknowledged ones; placement and runs as above." % policy_queue)
    out.append("")
    out.append("| broker | delivered msg/s | published msg/s | lost after PUBACK % | p99 µs | broker CPU % |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
    for (label, broker), rs in policy_rows.items():
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            broker, fmt(pick(rs, lambda r: r["msgs_per_sec"])), fmt(pick(rs, lambda r: r["sent_per_sec"])),
            fmt(pick(rs, lambda r: 100.0 * r["lost_acked"] / r["acked"] if r["acked"] else 0.0), "{:.2f}"),
            fmt(pick(rs, lambda r: r["p99_us"]), "{:,.0f}"),
            fmt(pick(rs, lambda r: r["broker_cpu_pct"] if r["broker_cpu_pct"] >= 0 else None), "{:.0f}")))
        for e in errors_of(rs):
            notes.append("- %s, %s: %s" % (label, broker, e))
    out.append("")

storm_rows, _ = grouped(storm)
if storm_rows:
    out.append("The storm: fan-in 16->1 QoS 0 for %s s undisturbed, then %s s more while short-lived clients "
               "connect, subscribe to 10 filters each and disconnect (`--storm`, clean sessions), in one run; "
               "placement and runs as above." % (duration, duration))
    out.append("")
    out.append("| scenario | broker | undisturbed msg/s | under the storm msg/s | storm / undisturbed | storm clients/s done "
               "| connect to SUBACK p99 µs | broker CPU % undisturbed / storm | generator CPU % undisturbed / storm "
               "| loss % |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (label, broker), rs in storm_rows.items():
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s |" % (
            label, broker, fmt(pick(rs, lambda r: r["calm_msgs_per_sec"])),
            fmt(pick(rs, lambda r: r["storm_msgs_per_sec"])), fmt(pick(rs, lambda r: r["storm_ratio"]), "{:.2f}"),
            fmt(pick(rs, lambda r: r["storm_clients_per_sec"])), fmt(pick(rs, lambda r: r["storm_subscribe_p99_us"])),
            fmt(pick(rs, lambda r: r["calm_broker_cpu_pct"]), "{:.0f}"),
            fmt(pick(rs, lambda r: r["storm_broker_cpu_pct"]), "{:.0f}"),
            fmt(pick(rs, lambda r: r["calm_bench_cpu_pct"]), "{:.0f}"),
            fmt(pick(rs, lambda r: r["storm_bench_cpu_pct"]), "{:.0f}"),
            fmt(pick(rs, lambda r: 100.0 * r["lost"] / r["expected"] if r["expected"] else 0.0), "{:.2f}")))
        for e in errors_of(rs):
            notes.append("- %s, %s: %s" % (label, broker, e))
    out.append("")

thread_rows, thread_order = grouped(threads)
if thread_rows:
    if t_bcores == t_lcores:
        out.append("Threads: mqbase alone, broker and load generator (%s loop%s) both free to use cores %s (so a "
                   "second broker thread competes with the generator for CPU); median of %s runs, alternating."
                   % (t_lthreads, "" if t_lthreads == "1" else "s", t_bcores, runs))
    else:
        out.append("Threads: mqbase alone on cores %s, load generator (%s loop%s) on cores %s; median of %s runs, "
                   "alternating." % (t_bcores, t_lthreads, "" if t_lthreads == "1" else "s", t_lcores, runs))
    out.append("")
    out.append("| scenario | broker | delivered msg/s | broker CPU % | generator CPU % | msgs per broker CPU-second | loss % | vs 1 thread |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label in thread_order:
        one = None
        for broker in ("mqbase --threads 1", "mqbase --threads 2"):
            rs = thread_rows.get((label, broker))
            if not rs:
                continue
            rate, cpu, per_cpu, gen, p50, p99, loss, errors = stats(rs)
            if one is None:
                one = rate
            ratio = "%.2fx" % (rate / one) if rate and one else "n/a"
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (label, broker, fmt(rate), fmt(cpu, "{:.0f}"),
                                                               fmt(gen, "{:.0f}"), fmt(per_cpu), fmt(loss, "{:.2f}"), ratio))
            for e in errors:
                notes.append("- %s, %s: %s" % (label, broker, e))
    out.append("")
if notes:
    out.append("Errors reported by the runs:")
    out.append("")
    out.extend(notes)
    out.append("")

text = open(doc).read()
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
if begin not in text or end not in text:
    sys.exit("compare.sh: %s has no %s / %s markers" % (doc, begin, end))
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc, "w").write(head + begin + "\n" + "\n".join(out) + "\n" + end + tail)
print("\n".join(out))
print("written to %s" % doc)
EOF

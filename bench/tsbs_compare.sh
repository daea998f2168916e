#!/usr/bin/env bash
# bench/tsbs_compare.sh — the TSBS IoT queries (github.com/timescale/tsbs, use case "iot") on
# mqbase and on PostgreSQL 15, on the same data, in the same run (docs/benchmarks.md, section
# "SQL: TSBS IoT").
#
# Data: bench/tsbs's generator (tsbs_bench, deterministic), TSBS's iot semantics: trucks with 8
# tags, `readings` and `diagnostics` every 10 s for BENCH_HOURS (72, TSBS's usual 3 days), with
# TSBS's missing rows, NULL fields and NULL names; the trucks are as many as BENCH_ROWS rows of
# both tables together need.
#
#   mqbase     `tsbs_bench load`: in process, Store + Tables, RowBatch writes of about 100,000
#              rows, then a checkpoint to block files and the compaction the server runs after
#              it (its maintenance, every 10 s); each tag a TAG column of the table.
#              `tsbs_bench query`: the tables opened offline, the query through query::Engine
#              in process (no HTTP), no time or memory limit, on one thread.
#   pg         a private PostgreSQL 15 cluster (bench/tsbs/tsbs_pg.py: initdb into the work
#              dir as the user postgres, pg_ctl start on an ephemeral port of 127.0.0.1, the
#              settings of tsbs_pg.BENCH_SETTINGS, printed with the results), TSBS's
#              TimescaleDB schema (tags table + tags_id) with TSBS's default indexes on plain
#              PostgreSQL: (tags_id, time DESC) and (time DESC), tags(name), unique tags; COPY,
#              then the indexes, then VACUUM ANALYZE. The queries are TSBS's TimescaleDB SQL,
#              with time_bucket() a SQL function over date_bin(); psycopg2, execute + fetchall.
#
# Per query: BENCH_WARMUP untimed runs, then BENCH_RUNS timed runs on mqbase, then the same on
# PostgreSQL; the table shows the medians, PostgreSQL / mqbase, and whether the answers are the
# same (column names, rows as multisets, floats to 1e-9 relative). Queries mqbase cannot ask
# are listed with the reason. Nothing is pinned; the load average is printed before and after.
# The cluster is stopped with pg_ctl stop and the work dir (tens of GB at 100 M rows) removed.
#
# Knobs (environment): BENCH_ROWS (100000000), BENCH_RUNS (5), BENCH_WARMUP (1), BENCH_HOURS
# (72), BENCH_TRUCKS (instead of deriving them from BENCH_ROWS), BENCH_QUERIES (a comma list of
# query names; default all), BENCH_WORK_DIR (/tmp: where the work dir is made), BENCH_KEEP (1:
# keep it, with mqbase's tables and the results; the cluster's directory goes in any case),
# BENCH_PG_SETTINGS ("name=value ..." over tsbs_pg.BENCH_SETTINGS), BENCH_NICE (0),
# TSBS_BENCH (build/release/bench/micro/tsbs_bench), PG_BIN (/usr/lib/postgresql/15/bin).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TSBS_BENCH:-$ROOT/build/release/bench/micro/tsbs_bench}
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PY=/usr/bin/python3
PGPY=$ROOT/bench/tsbs/tsbs_pg.py
ROWS=${BENCH_ROWS:-100000000}
RUNS=${BENCH_RUNS:-5}
WARMUP=${BENCH_WARMUP:-1}
HOURS=${BENCH_HOURS:-72}
NICE=${BENCH_NICE:-0}

die() { echo "tsbs_compare.sh: $*" >&2; exit 1; }
[[ -x $BIN ]] || die "no tsbs_bench at $BIN (ninja -C build/release tsbs_bench)"
[[ -x $PG_BIN/postgres ]] || die "no PostgreSQL 15 at $PG_BIN (scripts/setup.sh installs postgresql-15)"
$PY -c 'import psycopg2' 2>/dev/null || die "$PY lacks psycopg2 (apt-get install -y python3-psycopg2)"
if [[ $(id -u) == 0 ]]; then id postgres >/dev/null 2>&1 || die "no user postgres (the postgresql-common package makes it)"; fi
(( NICE == 0 )) || renice -n "$NICE" -p $$ >/dev/null || die "renice -n $NICE failed"

DATA=(--rows "$ROWS" --hours "$HOURS")
[[ -n ${BENCH_TRUCKS:-} ]] && DATA+=(--trucks "$BENCH_TRUCKS")

# About 190 bytes a row at the peak (PostgreSQL heap + indexes + WAL, mqbase's blocks and log).
need=$((ROWS / 1000 * 190 / 1000))  # MB
mkdir -p "${BENCH_WORK_DIR:-/tmp}"
avail=$(df -Pm "${BENCH_WORK_DIR:-/tmp}" | awk 'NR == 2 {print $4}')
(( avail > need )) || die "$avail MB free in ${BENCH_WORK_DIR:-/tmp}, about $need MB needed for $ROWS rows"

WORK=$(mktemp -d "${BENCH_WORK_DIR:-/tmp}/mqbase-tsbs.XXXXXX")
chmod 755 "$WORK"  # the cluster's user goes through it
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
cleanup() {
  $PY "$PGPY" stop --dir "$WORK/pg" || true  # pg_ctl stop, if it runs
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
note() { echo "tsbs_compare.sh: $*" >&2; }

INFO=$("$BIN" info "${DATA[@]}")
note "$(nproc) cores, load average $(loadavg); data $INFO; work dir $WORK"
echo "{\"kind\": \"info\", \"data\": $INFO, \"loadavg_start\": \"$(loadavg)\", \"runs\": $RUNS, \"warmup\": $WARMUP, \"nice\": $(ps -o ni= -p $$)}" >>"$RESULTS"

# ---- load ----------------------------------------------------------------------------------
t0=$(date +%s)
note "mqbase: loading"
MQ_LOAD=$("$BIN" load --dir "$WORK/mqbase" "${DATA[@]}") || die "tsbs_bench load failed"
note "mqbase: $MQ_LOAD"
echo "{\"kind\": \"mqbase_load\", \"load\": $MQ_LOAD, \"dir_bytes\": $(du -sb "$WORK/mqbase" | cut -f1)}" >>"$RESULTS"

PORT=$($PY "$PGPY" start --dir "$WORK/pg" --bench-settings) || die "PostgreSQL did not start"
note "PostgreSQL: port $PORT; loading"
PG_LOAD=$($PY "$PGPY" load --port "$PORT" --tsbs-bench "$BIN" -- "${DATA[@]}") || die "PostgreSQL load failed"
note "PostgreSQL: $PG_LOAD"
IFS=$'\t' read -r PG_VERSION PG_SETTINGS < <($PY "$PGPY" settings --port "$PORT")
echo "{\"kind\": \"pg_load\", \"load\": $PG_LOAD, \"version\": \"$PG_VERSION\", \"settings\": \"$PG_SETTINGS\"}" >>"$RESULTS"
note "loads took $(( $(date +%s) - t0 )) s; load average $(loadavg)"

# ---- queries -------------------------------------------------------------------------------
mapfile -t NAMES < <("$BIN" queries "${DATA[@]}" | $PY -c 'import json, sys; [print(json.loads(l)["name"]) for l in sys.stdin]')
"$BIN" queries "${DATA[@]}" >"$WORK/queries.jsonl"
for name in "${NAMES[@]}"; do
  if [[ -n ${BENCH_QUERIES:-} && ,$BENCH_QUERIES, != *,$name,* ]]; then continue; fi
  note "$name (load average $(loadavg))"
  "$BIN" query --dir "$WORK/mqbase" --only "$name" --runs "$RUNS" --warmup "$WARMUP" --answers "${DATA[@]}" >>"$RESULTS" \
    || die "tsbs_bench query $name failed"
  $PY "$PGPY" query --port "$PORT" --tsbs-bench "$BIN" --only "$name" --runs "$RUNS" --warmup "$WARMUP" --answers \
    -- "${DATA[@]}" >>"$RESULTS" || die "PostgreSQL query $name failed"
done
echo "{\"kind\": \"end\", \"loadavg_end\": \"$(loadavg)\"}" >>"$RESULTS"
note "queries done; load average $(loadavg)"

# ---- the table -----------------------------------------------------------------------------
$PY - "$RESULTS" "$WORK/queries.jsonl" "$ROOT" "$BIN" <<'EOF'
import datetime, json, os, statistics, sys

results, queries_file, root, binary = sys.argv[1:5]
sys.path.insert(0, os.path.join(root, "bench"))
sys.path.insert(0, os.path.join(root, "bench", "tsbs"))
from benchlib import machine  # noqa: E402
import tsbs_pg  # noqa: E402

lines = [json.loads(l) for l in open(results) if l.strip()]
meta = {d["kind"]: d for d in lines if d.get("kind")}
qs = {q["name"]: q for q in map(json.loads, open(queries_file))}
info, mq, pg = meta["info"], meta["mqbase_load"], meta["pg_load"]
d, ml, pl = info["data"], mq["load"], pg["load"]
model, nproc, rev = machine(root)
built = datetime.datetime.fromtimestamp(os.path.getmtime(binary), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print()
print("Measured %s on %s CPUs (%s), load average %s at the start and %s at the end; tree at `%s`, "
      "tsbs_bench (release) built %s; %s." % (
          datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), nproc, model,
          info["loadavg_start"], meta.get("end", {}).get("loadavg_end", "?"), rev, built, pg["version"]))
print()
print("Data: %s rows (readings %s, diagnostics %s), %s trucks, %s to %s every %s s (seed %s). mqbase: %s series, "
      "%.2f bytes/row in block files, loaded in %.0f s (in process, one thread; of it compaction %.0f s). PostgreSQL: heap %.1f + indexes %.1f "
      "bytes/row, COPY %.0f s, indexes %.0f s, VACUUM ANALYZE %.0f s." % (
          "{:,}".format(ml["rows"]), "{:,}".format(ml["readings"]), "{:,}".format(ml["diagnostics"]), d["trucks"],
          d["start"], d["end"], d["interval_s"], d["seed"], ml["series"], ml["bytes_on_disk"] / max(1, ml["rows"]),
          ml["load_s"], ml.get("compact_s", 0), (pl["readings_heap_bytes"] + pl["diagnostics_heap_bytes"]) / max(1, pl["rows"]),
          (pl["readings_index_bytes"] + pl["diagnostics_index_bytes"]) / max(1, pl["rows"]), pl["copy_s"],
          pl["index_s"], pl["vacuum_analyze_s"]))
if ml["rows"] != pl["rows"]:
    print()
    print("**Row counts differ: mqbase %d, PostgreSQL %d.**" % (ml["rows"], pl["rows"]))
print()
tsbs_pg.report([l for l in lines if not l.get("kind")])
print()
print("Medians of %d timed runs per system after %d untimed, same run, query by query (mqbase first). PostgreSQL / "
      "mqbase > 1: mqbase is faster. *CPU ms*: the CPU time over a run (median) of the mqbase process, and of the "
      "whole PostgreSQL cluster (postmaster and children: the backend and its parallel workers; clock ticks of "
      "10 ms), which the other processes of the machine do not inflate as they do wall time. *rows*: the answer's "
      "rows.%s" % (info["runs"], info["warmup"], "" if not info.get("nice") else
                   " Every process of both systems ran at nice %s." % info["nice"]))
print()
print("PostgreSQL settings: %s." % pg["settings"])
unsupported = [q for q in qs.values() if not q["mqbase"]]
if unsupported:
    print()
    print("Not supported by mqbase:")
    for q in unsupported:
        print("- %s: %s." % (q["name"], q["unsupported"]))
EOF

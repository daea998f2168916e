#!/usr/bin/env bash
# bench/security.sh: what TLS and ACLs cost, mqbase and Debian's mosquitto side by side.
#
# Needs the release binary (`make bench-security` builds it). Brokers on BENCH_BROKER_CORE, the
# generator (`mqbase bench`) on BENCH_LOAD_CORE, a fresh broker per run, brokers alternating,
# medians of BENCH_RUNS. Certificates: a test CA and a P-256 server certificate for localhost,
# made here with openssl. Three tables, printed as Markdown (docs/benchmarks.md quotes them):
#   1. fan-in 16->1 (QoS 0 and QoS 1, 64 B) over plain TCP and over TLS, per broker, and the
#      TLS / TCP ratio;
#   2. handshakes: BENCH_HANDSHAKES connections set up (`bench conn --cafile`, every one a full
#      TLS handshake, at most 64 at once), connections per second, against plain TCP;
#   3. ACLs: mqbase fan-in QoS 0 with no ACL file, and with files of BENCH_ACL_RULES rules (two
#      per user; and all in one section, the granting rule last), so every PUBLISH and every
#      delivery is checked against the file.
# Knobs: MQBASE_BIN, MOSQUITTO, BENCH_RUNS (3), BENCH_DURATION (10), BENCH_WARMUP (2),
# BENCH_BROKER_CORE (0), BENCH_LOAD_CORE (1), BENCH_HANDSHAKES (2000), BENCH_ACL_RULES (10000).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MQBASE=${MQBASE_BIN:-$ROOT/build/release/mqbase}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
RUNS=${BENCH_RUNS:-3}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
BROKER_CORE=${BENCH_BROKER_CORE:-0}
LOAD_CORE=${BENCH_LOAD_CORE:-1}
HANDSHAKES=${BENCH_HANDSHAKES:-2000}
ACL_RULES=${BENCH_ACL_RULES:-10000}
PY=/usr/bin/python3

die() { echo "security.sh: $*" >&2; exit 1; }
[[ -x $MQBASE ]] || die "no mqbase binary at $MQBASE (make release)"
[[ -x $MOSQUITTO ]] || die "no mosquitto at $MOSQUITTO"
source "$(dirname "$0")/lib.sh"

WORK=$(mktemp -d /tmp/mqbase-security-bench.XXXXXX)
BROKER_PID=""
cleanup() {
  if [[ -n $BROKER_PID ]]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The test PKI.
(
  cd "$WORK"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
    -subj "/CN=bench CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
    -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
    -extfile ext 2>/dev/null
  # Two ACL files of ACL_RULES rules each. acl-flat: all in one section (the anonymous
  # clients'), the rule that grants the run's topics last: the worst case, every rule read per
  # check. acl-users: two rules per user, the run's clients being user "bench" (the usual shape:
  # a section per device or service).
  $PY -c 'import sys; n=int(sys.argv[1]); print("\n".join("topic readwrite other/%d/#" % i for i in range(n-1))); print("topic readwrite bench/#")' \
    "$ACL_RULES" >acl-flat
  $PY -c 'import sys; n=int(sys.argv[1]); print("\n".join("user u%d\ntopic write plant/u%d/#\ntopic read cmd/u%d/#" % (i, i, i) for i in range(n//2-1))); print("user bench\ntopic readwrite bench/#\ntopic read cmd/bench/#")' \
    "$ACL_RULES" >acl-users
  # mosquitto drops to its own user: it must be able to read the certificate and key.
  chmod 755 "$WORK"
  chmod 644 ./*
)

# start NAME TRANSPORT [ACL]: a fresh broker; sets BROKER_PID and PORT.
start() {
  local name=$1 transport=$2 acl=${3:-} dir
  dir=$(mktemp -d "$WORK/$name.XXXXXX")
  PORT=$(free_port)
  if [[ $name == mqbase ]]; then
    {
      printf '[log]\nlevel = "warn"\n\n[[listener]]\nbind = "127.0.0.1"\nport = %d\n' "$PORT"
      [[ $transport == tls ]] && printf 'tls_cert = "%s"\ntls_key = "%s"\n' "$WORK/server.pem" "$WORK/server.key"
      [[ -n $acl ]] && printf '\n[auth]\nacl_file = "%s"\n' "$WORK/$acl"
      printf '\n[storage]\ndurability = "none"\n'
    } >"$dir/mqbase.toml"
    taskset -c "$BROKER_CORE" "$MQBASE" serve --threads 1 --config "$dir/mqbase.toml" --data-dir "$dir/data" \
      --ready-file "$dir/ready.json" >"$dir/out.log" 2>&1 &
    BROKER_PID=$!
    local i
    for ((i = 0; i < 1000; i++)); do
      [[ -f $dir/ready.json ]] && break
      kill -0 "$BROKER_PID" 2>/dev/null || die "mqbase exited at start: $(tail -5 "$dir/out.log")"
      sleep 0.01
    done
  else
    {
      printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n' "$PORT"
      [[ $transport == tls ]] && printf 'certfile %s\nkeyfile %s\n' "$WORK/server.pem" "$WORK/server.key"
      printf 'log_dest file %s/mosquitto.log\nlog_type error\n' "$dir"
    } >"$dir/mosquitto.conf"
    taskset -c "$BROKER_CORE" "$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/out.log" 2>&1 &
    BROKER_PID=$!
  fi
  wait_port "$PORT" 10 || die "$name did not accept on $PORT"
}

stop() {
  kill "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"

# run LABEL BROKER TRANSPORT ACL BENCH-ARGS...: one run against a fresh broker.
run() {
  local label=$1 broker=$2 transport=$3 acl=$4 line tls=()
  shift 4
  start "$broker" "$transport" "$acl"
  [[ $transport == tls ]] && tls=(--cafile "$WORK/ca.pem")
  line=$(taskset -c "$LOAD_CORE" "$MQBASE" bench "$@" -h localhost -p "$PORT" "${tls[@]}" --json --quiet \
           --broker-pid "$BROKER_PID" 2>>"$WORK/bench.stderr" || true)
  stop
  [[ -n $line ]] || line='{"error": "no output"}'
  printf '{"label": "%s", "broker": "%s", "transport": "%s", "acl": "%s", "result": %s}\n' \
    "$label" "$broker" "$transport" "$acl" "$line" >>"$RESULTS"
  echo "$label $broker $transport ${acl:+acl }: $(echo "$line" | $PY -c 'import json,sys; r=json.load(sys.stdin); print("%.0f msg/s, %.0f connections/s, broker %.0f %% %s" % (r.get("msgs_per_sec",0), r.get("connects_per_sec",0), r.get("broker_cpu_pct",-1), r.get("error","")))')" >&2
}

FANIN=(-c 16 --size 64 --duration "$DURATION" --warmup "$WARMUP")
for ((r = 1; r <= RUNS; r++)); do
  for b in mqbase mosquitto; do
    for t in tcp tls; do
      run "fanin QoS 0" "$b" "$t" "" fanin "${FANIN[@]}" --qos 0
      run "fanin QoS 1" "$b" "$t" "" fanin "${FANIN[@]}" --qos 1 --inflight 32
      run "handshakes" "$b" "$t" "" conn -c "$HANDSHAKES" --max-pending 64 --duration 1
    done
  done
  run "acl" mqbase tcp "" fanin "${FANIN[@]}" --qos 0 -u bench
  run "acl" mqbase tcp acl-users fanin "${FANIN[@]}" --qos 0 -u bench
  run "acl" mqbase tcp acl-flat fanin "${FANIN[@]}" --qos 0
done

$PY - "$RESULTS" "$ACL_RULES" "$HANDSHAKES" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
acl_rules, handshakes = sys.argv[2], sys.argv[3]
def med(label, broker, transport, acl="", key="msgs_per_sec"):
    v = [r["result"].get(key, 0) for r in rows
         if (r["label"], r["broker"], r["transport"], r["acl"]) == (label, broker, transport, acl)]
    return statistics.median(v) if v else 0
def cpu(label, broker, transport, acl=""):
    return med(label, broker, transport, acl, "broker_cpu_pct")
print("| scenario | broker | TCP msg/s | TLS msg/s | TLS / TCP | broker CPU % (TCP / TLS) |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
for label in ("fanin QoS 0", "fanin QoS 1"):
    for b in ("mqbase", "mosquitto"):
        tcp, tls = med(label, b, "tcp"), med(label, b, "tls")
        print("| %s 16->1 64 B | %s | %s | %s | %.2f | %.0f / %.0f |" % (label, b, f"{tcp:,.0f}", f"{tls:,.0f}",
              tls / tcp if tcp else 0, cpu(label, b, "tcp"), cpu(label, b, "tls")))
print()
print("| broker | TCP connections/s | TLS handshakes/s (%s connections, 64 at once) |" % handshakes)
print("| --- | ---: | ---: |")
for b in ("mqbase", "mosquitto"):
    print("| %s | %s | %s |" % (b, f"{med('handshakes', b, 'tcp', key='connects_per_sec'):,.0f}",
                                f"{med('handshakes', b, 'tls', key='connects_per_sec'):,.0f}"))
print()
print("| mqbase fan-in 16->1 QoS 0 64 B | msg/s | broker CPU % | ns of broker CPU per message |")
print("| --- | ---: | ---: | ---: |")
for name, acl in (("no ACL file", ""), ("%s rules, 2 per user" % acl_rules, "acl-users"),
                  ("%s rules in one section, the granting one last" % acl_rules, "acl-flat")):
    v, c = med("acl", "mqbase", "tcp", acl), cpu("acl", "mqbase", "tcp", acl)
    print("| %s | %s | %.0f | %.0f |" % (name, f"{v:,.0f}", c, c / 100 * 1e9 / v if v else 0))
PYEOF

# Shell helpers shared by the bench/*.sh scripts (sourced; they set PY=/usr/bin/python3 first).

# A free TCP port on 127.0.0.1 (the OS's choice).
free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT TIMEOUT_S: returns 0 once 127.0.0.1:PORT accepts a connection, 1 after TIMEOUT_S.
wait_port() {
  $PY - "$1" "$2" <<'PYEOF'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.02)
sys.exit(1)
PYEOF
}

# work_dir PREFIX: makes WORK, a fresh directory under /tmp, and on the script's exit stops the
# server whose PID is in SERVER (when set) and removes WORK.
work_dir() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  SERVER=""
  trap 'if [[ -n $SERVER ]]; then kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; fi; rm -rf "$WORK"' EXIT
}

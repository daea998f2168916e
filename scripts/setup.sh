#!/usr/bin/env bash
# Installs what mqbase needs to build, test and run: Debian packages, then the npm packages of
# the web console (console/: esbuild, uPlot, MQTT.js; the build bundles them into the binary,
# and the console's tests drive Debian's chromium and firefox-esr with puppeteer-core) and MQTT.js for the
# Node tests (tests/js, run by tests/integration/test_mqttjs.py).
# Idempotent: when everything is present it prints nothing and returns at once.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libssl-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang-14 libclang-rt-14-dev
  libsimdjson-dev zlib1g-dev libpg-query-dev libedit-dev
  mosquitto mosquitto-clients python3 python3-paho-mqtt
  postgresql-15 python3-psycopg2 python3-prometheus-client
  strace tmux
  chromium firefox-esr
)
# Node.js runs the MQTT.js tests. A node that came from elsewhere (NodeSource, nvm) is kept:
# Debian's nodejs would replace or shadow it.
command -v node >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian mosquitto package starts a system broker on 1883; mqbase's defaults want that
  # port, and tests only need the binary, so stop the service if the install started it.
  if [[ " ${missing[*]} " == *" mosquitto "* ]] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
  fi
  # PostgreSQL 15 is the reference of the SQL tests (tests/unit/query/conformance/regen.py,
  # tests/integration/test_sql_postgres.py), which run private instances of their own; the
  # package's system cluster on 5432 is not wanted: stop it and keep it from starting again.
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
    if command -v systemctl >/dev/null 2>&1; then
      $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
    fi
    if command -v pg_ctlcluster >/dev/null 2>&1; then
      $SUDO pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
    fi
  fi
fi

# npm packages, exactly as each directory's package-lock.json pins them. The stamp is written
# only after a successful `npm ci`, so an interrupted install is redone; a newer lock file
# redoes it too.
npm_ci() {
  local dir="$1" what="$2" stamp="$1/node_modules/.mqbase-npm-ci"
  if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ] && [ ! "$dir/package.json" -nt "$stamp" ]; then
    return 0
  fi
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup: node or npm is missing, so $what is not installed in $dir" >&2
    return 1
  fi
  echo "setup: installing $what into ${dir#"$root"/}/node_modules (npm ci)"
  # --silent hides npm's errors too: keep its output and show it if it fails.
  if ! npm_log="$(cd "$dir" && npm ci --no-audit --no-fund --silent 2>&1)"; then
    echo "setup: npm ci in $dir failed:" >&2
    echo "$npm_log" >&2
    exit 1
  fi
  touch "$stamp"
}

# The console is part of the build: without its packages the binary cannot be built.
npm_ci "$root/console" "the web console's esbuild, uPlot, MQTT.js and puppeteer-core" || exit 1
# Without MQTT.js here, tests/integration/test_mqttjs.py fails and says so.
npm_ci "$root/tests/js" "MQTT.js" || true

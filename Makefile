# The two commands: `make run` and `make test`. Both install what is missing first.
JOBS ?= $(shell nproc)
GEN := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
LAUNCHER := $(shell command -v ccache >/dev/null 2>&1 && echo "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
ARGS ?=
# ccache: paths relative to the checkout, so a clone elsewhere (CI) reuses this machine's cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: install run test setup release testbuild tsanbuild fuzz clean bench bench-durability bench-ingest bench-ingest-targets bench-tsbs bench-security microbench

setup:
	@scripts/setup.sh

release: setup
	@cmake -S . -B build/release $(GEN) $(LAUNCHER) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build/release -j $(JOBS)

run: release
	./build/release/mqbase serve $(ARGS)

# The binary, its man page, /etc/mqbase/mqbase.toml and the systemd unit (docs/operations.md).
# PREFIX (default /usr/local), SYSCONFDIR (/etc), DESTDIR (a staging root) as usual.
install: release
	@scripts/install.sh

# ThreadSanitizer cannot share a binary with ASan: build/tsan holds the TSan build of the broker
# and of the threaded unit tests; build/test's ctest runs them as the tsan.* tests.
tsanbuild: setup
	@cmake -S . -B build/tsan $(GEN) $(LAUNCHER) -DCMAKE_BUILD_TYPE=Debug -DMQBASE_TSAN=ON -DMQBASE_WERROR=ON >/dev/null
	@cmake --build build/tsan -j $(JOBS) --target tsan_suite

testbuild: setup tsanbuild
	@cmake -S . -B build/test $(GEN) $(LAUNCHER) -DCMAKE_BUILD_TYPE=Debug -DMQBASE_SANITIZE=ON -DMQBASE_WERROR=ON \
		-DMQBASE_TSAN_BIN_DIR=$(CURDIR)/build/tsan >/dev/null
	@cmake --build build/test -j $(JOBS)

test: testbuild
	cd build/test && ctest --output-on-failure -j $(JOBS) --timeout 600

bench: release
	bench/compare.sh

# The write-ahead log's cost (sync / batch / none against mosquitto) and recovery time.
bench-durability: release
	bench/durability.sh

# Telemetry ingest end to end: mqbase against mosquitto + a collector + PostgreSQL 15.
bench-ingest: release
	bench/ingest_compare.sh

# Ingest rows/s per broker core in the shapes the telemetry issue sets targets for.
bench-ingest-targets: release
	bench/ingest_targets.sh

# What TLS and ACLs cost: fan-in over TCP and TLS, handshakes per second, an ACL of 10,000 rules.
bench-security: release
	bench/security.sh

# The TSBS IoT queries: mqbase against PostgreSQL 15 on the same data (BENCH_ROWS, default 100 M).
bench-tsbs: release
	bench/tsbs_compare.sh

microbench: release
	./build/release/bench/micro/mqbase_microbench $(ARGS)

FUZZ_TARGETS ?= codec columns payload websocket acl password config connection sql
fuzz: setup
	@for t in $(FUZZ_TARGETS); do fuzz/run_bounded.sh $${FUZZ_SECONDS:-600} build/fuzz $$t || exit 1; done

clean:
	rm -rf build

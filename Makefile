# purr — the two commands a newcomer needs are `make run` and `make test`.
#
#   make run ARGS="--port 0 --no-discovery"   build the UI and the binary, start a node
#   make test                                 everything CI runs
#   make front                                build the web UI into front/dist (embedded by build.rs)
#   make lint                                 rustfmt + clippy
#   make bench                                all benchmarks → docs/BENCHMARKS.md (not part of test;
#                                             BENCH_QUIET_WAIT=600: wait up to 10 min for a quiet machine)
#   make clean                                remove build outputs

CARGO ?= cargo
ARGS ?=
HAVE_NPM := $(shell command -v npm 2>/dev/null)

.PHONY: run test lint front front-test e2e bench clean

run:
ifneq ($(HAVE_NPM),)
	$(MAKE) front
else
	@echo "npm not found: building without the web UI (the node serves a page saying how to build it)"
endif
	$(CARGO) run --release -- $(ARGS)

# The UI: dependencies from package-lock.json, type check, bundle into front/dist.
front:
	cd front && npm ci --no-audit --no-fund && npm run build

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# UI unit tests and the 150 KB gzipped budget.
front-test: front
	cd front && npm test && npm run size

# Two real nodes (the test build, UI embedded) driven by Debian's chromium.
e2e:
	cd front && PURR_BIN=../target/debug/purr node e2e/run.mjs

test: lint front-test
	$(CARGO) test
	# Smoke runs with tiny counts, so the benchmarks never rot (a few seconds each).
	$(CARGO) test --bench fullstack -- --quick
	$(CARGO) test --bench record -- --quick
	$(CARGO) test --bench handshake -- --quick
	$(CARGO) test --bench footprint -- --quick
	$(CARGO) test --bench discovery -- --quick
	$(MAKE) e2e

# Builds the UI and the release binary, runs every benchmark, writes docs/BENCHMARKS.md.
bench:
	scripts/bench.sh

clean:
	$(CARGO) clean
	rm -rf front/dist front/node_modules

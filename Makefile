# purr — the two commands a newcomer needs are `make run` and `make test`.
#
#   make run ARGS="--port 0 --no-discovery"   build the UI and the binary, start a node
#   make test                                 everything CI runs
#   make front                                build the web UI into front/dist (embedded by build.rs)
#   make lint                                 rustfmt + clippy (+ cargo deny/audit, systemd-analyze
#                                             on contrib/*.service, where installed)
#   make bench                                all benchmarks → docs/BENCHMARKS.md (not part of test;
#                                             BENCH_QUIET_WAIT=600: wait up to 10 min for a quiet machine;
#                                             OFFICE_NODES=64: a bigger office than the default 32)
#   make fuzz FUZZ_SECONDS=60                 every fuzz target in turn (not part of test)
#   make soak SOAK_SECONDS=1800               5 nodes, churn, kill -9s and a flood for 30 min
#                                             → target/soak/report.md (not part of test)
#   make clean                                remove build outputs

CARGO ?= cargo
ARGS ?=
HAVE_NPM := $(shell command -v npm 2>/dev/null)

.PHONY: run test prereqs lint systemd-check front front-test e2e bench fuzz soak clean

# Everything is incremental: on an unchanged tree `make run` starts the node in about a
# second. npm ci runs only when package-lock.json changed, the UI is rebuilt only when a
# file it is built from changed, and cargo rebuilds the binary only when a Rust source
# or front/dist changed (build.rs embeds front/dist and watches it: rebuilding the UI
# for nothing used to cost a 30-50 s release link at every `make run`).
run:
ifneq ($(HAVE_NPM),)
	@$(MAKE) --no-print-directory front
else
	@echo "npm not found: building without the web UI (the node serves a page saying how to build it)"
endif
	$(CARGO) run --release -- $(ARGS)

# The UI: dependencies from package-lock.json, type check, bundle into front/dist.
# npm ci writes front/node_modules/.package-lock.json: it stamps the installed tree.
FRONT_SOURCES := $(shell find front/src front/public -type f 2>/dev/null) \
	front/index.html front/package.json front/tsconfig.json front/vite.config.ts

front: front/dist/index.html

front/node_modules/.package-lock.json: front/package-lock.json front/package.json
	cd front && npm ci --no-audit --no-fund
	@touch $@

front/dist/index.html: front/node_modules/.package-lock.json $(FRONT_SOURCES)
	cd front && npm run build
	@touch $@

# Supply-chain checks run when their tool is installed; otherwise they say why they are
# skipped (see docs/SECURITY.md §7). Nothing is installed here. cargo deny reads crate
# metadata from crates.io; advisories need GitHub, so cargo audit runs only with a local
# advisory database.
ADVISORY_DB := $(or $(CARGO_HOME),$(HOME)/.cargo)/advisory-db

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	@if command -v cargo-deny >/dev/null 2>&1; then \
	    echo "cargo deny check licenses bans"; \
	    $(CARGO) deny -L error check licenses bans; \
	else \
	    echo "lint: cargo-deny not installed; licence/ban check skipped (cargo install cargo-deny --locked)"; \
	fi
	@if ! command -v cargo-audit >/dev/null 2>&1; then \
	    echo "lint: cargo-audit not installed; advisory check skipped"; \
	elif [ -d "$(ADVISORY_DB)" ]; then \
	    $(CARGO) audit --no-fetch; \
	else \
	    echo "lint: cargo audit skipped: no local RustSec database, and fetching it needs GitHub (run cargo audit once where GitHub is reachable)"; \
	fi
	@scripts/check-systemd.sh

# The systemd units in contrib/ (skipped with a message where systemd-analyze is missing).
systemd-check:
	@scripts/check-systemd.sh

# UI unit tests and the 150 KB gzipped budget.
front-test: front
	cd front && npm test && npm run size

# Two real nodes (the test build, UI embedded) driven by Debian's chromium.
e2e:
	cd front && PURR_BIN=../target/debug/purr node e2e/run.mjs

# What the tests need, checked in seconds (installed as root, else the commands to run).
prereqs:
	@scripts/check-prereqs.sh

test: prereqs
	@$(MAKE) --no-print-directory lint front-test
	$(CARGO) test
	# Smoke runs with tiny counts, so the benchmarks never rot (a few seconds each).
	$(CARGO) test --bench fullstack -- --quick
	$(CARGO) test --bench record -- --quick
	$(CARGO) test --bench handshake -- --quick
	$(CARGO) test --bench footprint -- --quick
	$(CARGO) test --bench discovery -- --quick
	$(CARGO) test --bench groups -- --quick
	$(CARGO) test --bench files -- --quick
	$(CARGO) test --bench office -- --quick
	# A 20 s soak (five nodes, churn, kill -9s, a flood) and its end-of-run checks.
	SOAK_SECONDS=20 $(CARGO) test --test soak -- --ignored
	$(MAKE) e2e

# Builds the UI and the release binary, runs every benchmark, writes docs/BENCHMARKS.md.
bench:
	scripts/bench.sh

# The soak (docs/SOAK.md): five nodes on loopback for SOAK_SECONDS under random sends,
# renames, restarts, kill -9s and one flooding client; fails on a lost or duplicated
# delivered message, a panic, a crash or a growing RSS. --release makes the test's
# CARGO_BIN_EXE_purr the release binary (the one users run). Figures, data dirs and logs
# land in target/soak/.
SOAK_SECONDS ?= 1800

soak:
	SOAK_SECONDS=$(SOAK_SECONDS) $(CARGO) test --release --test soak -- --ignored --nocapture

# libFuzzer via cargo-fuzz on the stable toolchain. With `-s none` cargo-fuzz passes only
# stable -C flags (sancov instrumentation); RUSTC_BOOTSTRAP=1 lets the -Z flags of other
# sanitizers (FUZZ_SANITIZER=address) through on stable too.
# New inputs go to fuzz/work/<target> (ignored by git); the seeds in fuzz/corpus/<target>
# are only read. Crashes land in fuzz/artifacts/<target>/ and stop the run; replay one
# with fuzz/target/<triple>/release/<target> <file>.
FUZZ_SECONDS ?= 60
FUZZ_SANITIZER ?= none
FUZZ_TARGETS ?= frame hand handshake_responder handshake_initiator record inner http ws_cmd peers_file beacon names

FUZZ_TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')

fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build -s $(FUZZ_SANITIZER)
	@# The binaries are run directly, as `cargo fuzz run` would after its own build.
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p fuzz/work/$$t fuzz/artifacts/$$t && \
	    echo "== fuzz $$t for $(FUZZ_SECONDS) s" && \
	    fuzz/target/$(FUZZ_TRIPLE)/release/$$t -artifact_prefix=fuzz/artifacts/$$t/ \
	        -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        fuzz/work/$$t fuzz/corpus/$$t || exit 1; \
	done

clean:
	$(CARGO) clean
	rm -rf front/dist front/node_modules

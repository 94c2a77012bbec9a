# purr — the two commands a newcomer needs are `make run` and `make test`.
#
#   make run ARGS="--port 0 --no-discovery"   build the UI (if npm is here) and the binary, start a node
#   make test                                 everything CI runs
#   make front                                build the web UI into front/dist (embedded by build.rs)
#   make lint                                 rustfmt + clippy
#   make clean                                remove build outputs

CARGO ?= cargo
ARGS ?=
HAVE_NPM := $(shell command -v npm 2>/dev/null)
HAVE_FRONT := $(wildcard front/package.json)

.PHONY: run test lint front clean

run:
ifneq ($(and $(HAVE_NPM),$(HAVE_FRONT)),)
	$(MAKE) front
endif
	$(CARGO) run --release -- $(ARGS)

front:
ifneq ($(HAVE_FRONT),)
	cd front && npm ci --no-audit --no-fund && npm run build
else
	@echo "front/ is not here yet: the node serves its built-in page"
endif

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test: lint
	$(CARGO) test

clean:
	$(CARGO) clean
	rm -rf front/dist front/node_modules

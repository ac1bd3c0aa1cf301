# Warden — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/warden
PKGS := $(shell $(GO) list ./... 2>/dev/null | grep -v /test/)
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: help build test unit e2e e2e-majors lint demo bench fuzz fuzz-smoke chaos compat compat-quick clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/warden (static, without cgo: no libc mapped into the agent and its fence)
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/warden

lint: ## go vet, gofmt and staticcheck
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) ./...

unit: ## unit, simulation and component tests (real PostgreSQL and etcd where they touch them)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# Patroni 4.1 (scripts/install-patroni4.sh, cached) runs beside Warden in the compatibility tests.
# The suite runs as E2E_SHARDS (default 2) go test processes side by side; one test alone:
# go test -count=1 -v -tags e2e -run TestName ./test/e2e/
e2e: build ## end-to-end: 3 real nodes, kill -9, SIGSTOP, SIGTERM, switchover, etcd outages, network partitions, 20 chaos faults, Patroni 3.0.2 and 4.1 side by side
	WARDEN_PATRONI4_BIN=$$(scripts/install-patroni4.sh) GO=$(GO) scripts/e2e-shards.sh -timeout 45m

# The e2e core, run on every major in PG_MAJORS at the same time, each in its own go test
# (the whole suite runs on the host's 15; the tests mostly wait on timeouts, so two majors
# side by side take little more than one):
# bootstrap, replicas, kill -9 failover and pg_rewind rejoin (TestLifecycle), switchover,
# synchronous mode, slots (PostgreSQL 17 failover slots too), takeover of a running cluster,
# and the major's own parameters.
E2E_CORE = ^(TestLifecycle|TestSwitchover|TestSynchronousMode|TestReplicationSlots|TestTakeOverExistingCluster|TestMajorParameters|TestFailoverSlots)$$
PG_MAJORS ?= 17 18

e2e-majors: build ## the e2e core on PostgreSQL 17 and 18 (PG_MAJORS) side by side, installed by scripts/install-pg.sh into /var/cache/warden/pg
	@set -eo pipefail; logs=$$(mktemp -d); began=$$(date +%s); \
	for major in $(PG_MAJORS); do bin=$$(scripts/install-pg.sh $$major); echo "$$bin" >"$$logs/$$major.bin"; done; \
	for major in $(PG_MAJORS); do \
		( start=$$(date +%s); rc=0; \
		  WARDEN_PG_BIN=$$(cat "$$logs/$$major.bin") $(GO) test -count=1 -timeout 25m -v -tags e2e -run '$(E2E_CORE)' ./test/e2e/ >"$$logs/$$major.log" 2>&1 || rc=$$?; \
		  echo "measured: e2e core on PostgreSQL $$major in $$(( $$(date +%s) - start ))s" >>"$$logs/$$major.log"; echo $$rc >"$$logs/$$major.rc" ) & \
	done; wait; failed=0; \
	for major in $(PG_MAJORS); do \
		echo "=== e2e core on PostgreSQL $$major ($$(cat "$$logs/$$major.bin"))"; cat "$$logs/$$major.log"; \
		[ "$$(cat "$$logs/$$major.rc")" = 0 ] || failed=1; \
	done; rm -rf "$$logs"; \
	echo "measured: e2e core on PostgreSQL $(PG_MAJORS) in $$(( $$(date +%s) - began ))s (side by side)"; exit $$failed

# About 11s a fault on 2 shared cores (100 faults took 18 minutes): 200 faults take about 40
# minutes; the go test timeout allows 60s a fault. The nodes run in network namespaces (root), so partitions are in the
# menu; the summary table is the `summary |` lines. The full log stays in /tmp/warden-chaos.log.
chaos: build ## the fault-injection suite with hundreds of faults, partitions included (CHAOS_FAULTS, default 200: ~40 min; CHAOS_SEED)
	CHAOS_FAULTS=$${CHAOS_FAULTS:-200}; CHAOS_FAULTS=$$CHAOS_FAULTS $(GO) test -count=1 -timeout $$((CHAOS_FAULTS + 10))m -v -tags e2e -run 'TestChaos$$' ./test/e2e/ | tee /tmp/warden-chaos.log | grep --line-buffered -E 'chaos seed|fault|summary|measured|^(---|ok|FAIL)'; test $${PIPESTATUS[0]} -eq 0

# The differential harness (test/compat/README.md): the same scenario on real Patroni 3.0.2 and
# 4.1.x (scripts/install-patroni4.sh) and on Warden, every observable compared;
# fails on a difference not in test/compat/allowlist.txt. Reports in COMPAT_REPORT_DIR.
COMPAT_REPORT_DIR ?= $(CURDIR)/bin/compat
compat: ## differential test against real Patroni 3.0.2 and 4.1.x, every step (~15 min)
	COMPAT_PATRONI4=$$(scripts/install-patroni4.sh) COMPAT_REPORT_DIR=$(COMPAT_REPORT_DIR) $(GO) test -count=1 -timeout 40m -v -tags compat -run 'TestCompat$$' ./test/compat/

compat-quick: ## the differential test's fast subset: Patroni 3.0.2, four steps (part of make test)
	COMPAT_QUICK=1 COMPAT_REPORT_DIR=$(COMPAT_REPORT_DIR) $(GO) test -count=1 -timeout 10m -v -tags compat -run 'TestCompat$$' ./test/compat/

test: lint unit fuzz-smoke e2e e2e-majors compat-quick ## everything CI runs

demo: build ## a real 3-node cluster on this machine with embedded etcd, shown working (PG=17 or PG=18: on that major)
	@set -e; if [ -n "$(PG)" ]; then PG_BIN=$$(scripts/install-pg.sh $(PG)); export PG_BIN; fi; ./scripts/demo.sh

bench: build ## Warden vs Patroni side by side (root; BENCH_REPEAT, BENCH_ONLY=warden, BENCH_QUICK=1, PG=17)
	@set -e; if [ -n "$(PG)" ]; then WARDEN_PG_BIN=$$(scripts/install-pg.sh $(PG)); export WARDEN_PG_BIN; fi; $(GO) run ./bench/cmd/wardenbench

# Every `func FuzzX` in a test file under internal/, as "dir FuzzX" pairs. Minimizing is
# bounded: FuzzLoad is slow enough per input that the default 60s ate whole smoke runs.
FUZZ_TARGETS = grep -r --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*' internal | sed 's|/[^/]*_test.go:func | |'
FUZZTIME ?= 60s

fuzz: ## every fuzz target for FUZZTIME each (default 60s)
	@set -eo pipefail; $(FUZZ_TARGETS) | while read -r dir name; do \
		echo "fuzz $$name ./$$dir for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./$$dir </dev/null | grep -v '^fuzz: elapsed' || exit 1; \
	done

# A count, not a duration: Go 1.26's coordinator can fail a target with "context deadline
# exceeded" when a duration -fuzztime ends while a worker is busy (golang/go#75804, fixed in 1.27).
fuzz-smoke: ## every fuzz target for 10000 executions (part of make test)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10000x

clean: ## remove build output
	rm -rf bin

# Warden — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/warden
PKGS := $(shell $(GO) list ./... 2>/dev/null | grep -v /test/)
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: help build test unit e2e lint demo bench fuzz fuzz-smoke chaos compat compat-quick clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/warden (static, without cgo: no libc mapped into the agent and its fence)
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/warden

lint: ## go vet, gofmt and staticcheck
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(STATICCHECK) ./...

unit: ## unit, simulation and component tests (real PostgreSQL and etcd where they touch them)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

e2e: build ## end-to-end: 3 real nodes, kill -9, SIGSTOP, SIGTERM, switchover, etcd outages, network partitions, 20 chaos faults
	$(GO) test -count=1 -timeout 40m -v -tags e2e ./test/e2e/

# About 11s a fault on 2 shared cores (100 faults took 18 minutes): 200 faults take about 40
# minutes; the go test timeout allows 60s a fault. The nodes run in network namespaces (root), so partitions are in the
# menu; the summary table is the `summary |` lines. The full log stays in /tmp/warden-chaos.log.
chaos: build ## the fault-injection suite with hundreds of faults, partitions included (CHAOS_FAULTS, default 200: ~40 min; CHAOS_SEED)
	CHAOS_FAULTS=$${CHAOS_FAULTS:-200}; CHAOS_FAULTS=$$CHAOS_FAULTS $(GO) test -count=1 -timeout $$((CHAOS_FAULTS + 10))m -v -tags e2e -run 'TestChaos$$' ./test/e2e/ | tee /tmp/warden-chaos.log | grep --line-buffered -E 'chaos seed|fault|summary|measured|^(---|ok|FAIL)'; test $${PIPESTATUS[0]} -eq 0

# The differential harness (test/compat/README.md): the same scenario on real Patroni 3.0.2 and
# 4.1.x (COMPAT_PATRONI4, default /opt/pgx/patroni/bin) and on Warden, every observable compared;
# fails on a difference not in test/compat/allowlist.txt. Reports in COMPAT_REPORT_DIR.
COMPAT_REPORT_DIR ?= $(CURDIR)/bin/compat
compat: ## differential test against real Patroni 3.0.2 and 4.1.x, every step (~15 min)
	COMPAT_REPORT_DIR=$(COMPAT_REPORT_DIR) $(GO) test -count=1 -timeout 40m -v -tags compat -run 'TestCompat$$' ./test/compat/

compat-quick: ## the differential test's fast subset: Patroni 3.0.2, four steps (part of make test)
	COMPAT_QUICK=1 COMPAT_REPORT_DIR=$(COMPAT_REPORT_DIR) $(GO) test -count=1 -timeout 10m -v -tags compat -run 'TestCompat$$' ./test/compat/

test: lint unit fuzz-smoke e2e compat-quick ## everything CI runs

demo: build ## a real 3-node cluster on this machine with embedded etcd, shown working
	./scripts/demo.sh

bench: build ## Warden vs Patroni side by side (root; BENCH_REPEAT, BENCH_ONLY=warden, BENCH_QUICK=1)
	$(GO) run ./bench/cmd/wardenbench

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

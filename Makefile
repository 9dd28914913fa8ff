# chargeline: `make run` brings the whole pipeline up locally; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
export PATH := /usr/local/go/bin:$(PATH)
# Go 1.26.8's standard library has called vulnerabilities (net/http, crypto/tls, crypto/x509,
# html/template; `make vuln`), so every build and test runs on Go 1.27.3, which the go command
# fetches from the module proxy once (76 MB). A machine's go.env may say GOTOOLCHAIN=local, which
# ignores go.mod's toolchain line: hence the export, here and in .ci/run.
GOTOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test deps build vet vuln fuzz bench chaos clean

## run: start embedded NATS, a local ClickHouse, the simulators and every service; Ctrl-C stops
run: deps
	@$(GO) build -o bin/devstack ./services/devstack
	@exec bin/devstack --log-format=text $(ARGS)

## test: the whole suite against real NATS JetStream and a real clickhouse-server
test: deps vet vuln
	$(GO) test -race -count=1 -timeout 15m ./...
	@# A count, not a duration: Go 1.26's fuzz coordinator can fail a target with "context
	@# deadline exceeded" when a duration runs out on a busy machine (golang/go#75804).
	$(MAKE) fuzz FUZZTIME=20000x

## deps: install what is missing (clickhouse-server and zookeeper from Debian's packages, Go modules)
deps:
	@command -v $(GO) >/dev/null || { echo "Go is missing: install Go 1.26 or newer (https://go.dev/dl/); the build itself runs on $(GOTOOLCHAIN)"; exit 1; }
	@if ! command -v clickhouse-server >/dev/null && [ ! -x /usr/sbin/clickhouse-server ]; then \
		echo "installing clickhouse-server (Debian package)…"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq clickhouse-server clickhouse-client; \
	fi
	@# ZooKeeper coordinates the replicas of the ClickHouse cluster tests (18.16 has no Keeper);
	@# the package depends on a Java runtime, which apt installs with it.
	@if [ ! -e /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null; then \
		echo "installing zookeeper (Debian package, with a Java runtime)…"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq zookeeper; \
	fi
	@$(GO) mod download

## vet: gofmt and go vet
vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## vuln: govulncheck (exit 3 when the code calls a vulnerable symbol) against the Go vulnerability
## database, built locally from the golang.org/x/vulndb module that the Go module proxy serves, so
## vuln.go.dev is never reached. It first proves on .ci/vulnerable (a module of its own that calls
## language.ParseAcceptLanguage of golang.org/x/text v0.3.7: GO-2022-1059) that a called vulnerable
## symbol fails the check. Tool and database are built once per version under .data/.
## Update the database: `go list -m golang.org/x/vulndb@latest` (`go list -m -versions` lists no
## pseudo-versions), then set VULNDB_VERSION to the version it prints.
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
GOVULNCHECK_VERSION ?= v1.9.0
VULNDB_DIR := $(CURDIR)/.data/vulndb/$(VULNDB_VERSION)
# Built per toolchain: a govulncheck built by one Go release cannot load another's standard library.
GOVULNCHECK := $(CURDIR)/.data/tools/govulncheck-$(GOVULNCHECK_VERSION)-$(GOTOOLCHAIN)/govulncheck
vuln: $(GOVULNCHECK) $(VULNDB_DIR)/index/db.json
	@out=$$(cd .ci/vulnerable && $(GOVULNCHECK) -db file://$(VULNDB_DIR) ./... 2>&1); code=$$?; \
	if [ $$code -ne 3 ] || ! grep -q GO-2022-1059 <<<"$$out"; then \
		echo "vuln: govulncheck did not report GO-2022-1059, called in .ci/vulnerable (exit $$code):"; echo "$$out"; exit 1; \
	fi
	$(GOVULNCHECK) -db file://$(VULNDB_DIR) ./...

# Installed, not `go run`: go run turns govulncheck's exit 3 into 1.
$(GOVULNCHECK):
	GOBIN=$(@D) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

# vulndb's own cmd/indexdb turns its data/osv/*.json into index/db.json, index/modules.json, ID/*.json.
$(VULNDB_DIR)/index/db.json:
	@set -eo pipefail; echo "vuln: building the vulnerability database $(VULNDB_VERSION) in $(VULNDB_DIR)"; \
	src=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	[ -d "$$src/data/osv" ] || { echo "vuln: no data/osv in golang.org/x/vulndb@$(VULNDB_VERSION)"; exit 1; }; \
	rm -rf $(VULNDB_DIR).tmp; mkdir -p $(dir $(VULNDB_DIR)); \
	$(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$src/data/osv" -out $(VULNDB_DIR).tmp; \
	rm -rf $(VULNDB_DIR); mv $(VULNDB_DIR).tmp $(VULNDB_DIR)

## fuzz: run every fuzz target (mappings, codecs, decimal arithmetic, schema checks) briefly (FUZZTIME=…)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./pkg/events ./pkg/providers/... ./pkg/sink ./schemas/events); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## build: binaries of every service into bin/
build:
	$(GO) build -o bin/ ./services/...

## bench: Go benchmarks, then the end-to-end harness (table + .data/bench/report.json; ARGS=--quick for a smoke run)
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/events ./pkg/bus ./pkg/sink ./pkg/normalize ./pkg/providers/bemo
	$(GO) run ./services/bench $(ARGS)

## chaos: the fault-injection run (pkg/chaos): every service as a process, killed and restarted,
## NATS restarted, ClickHouse stopped, provider faults, poison; compared with the ground truth
chaos: deps
	@$(GO) build -o bin/chaos ./services/chaos
	@bin/chaos --http-addr= --log-format=text $(ARGS)

clean:
	rm -rf .data bin

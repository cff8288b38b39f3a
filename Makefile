# HARi webhooks. `make run` starts everything on the embedded default;
# `make test` runs every test. See README.md.

SHELL := /bin/bash
TEMPORAL_CLI_VERSION := v1.5.1
TEMPORAL := bin/temporal
GO_TEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: run bench-postgres stack stack-bins stack-test stack-test-short compose-check test deps unit integration temporal node-client lint fmt demo-event clean bench soak fuzz

## run: Temporal dev server (file-backed, Web UI on :8233), worker and demo receiver
run: $(TEMPORAL)
	./scripts/run.sh

## stack: the production shape without Docker: Temporal server on PostgreSQL, Redis, two workers, Web UI (Ctrl-C stops all)
stack: deps $(TEMPORAL) stack-bins
	./scripts/stack.sh

## stack-bins: the Temporal server, its SQL schema tool and the Web UI server, built through tools/go.mod
STACK_BINS := bin/temporal-server bin/temporal-sql-tool bin/temporal-ui-server
stack-bins: $(STACK_BINS)
bin/temporal-server: tools/go.mod tools/go.sum
	mkdir -p bin
	go build -modfile=tools/go.mod -o $@.new go.temporal.io/server/cmd/server
	mv -f $@.new $@
bin/temporal-sql-tool: tools/go.mod tools/go.sum
	mkdir -p bin
	go build -modfile=tools/go.mod -o $@.new go.temporal.io/server/cmd/tools/sql
	mv -f $@.new $@
bin/temporal-ui-server: tools/go.mod tools/go.sum
	mkdir -p bin
	go build -modfile=tools/go.mod -o $@.new github.com/temporalio/ui-server/v2/cmd/server
	mv -f $@.new $@

## stack-test: the integration suite's delivery, registry, limit and fault tests against the stack
## (HARI_STACK=1: Temporal on PostgreSQL, two supervised workers), with kill -9 of a worker and
## restarts of the Temporal server and of PostgreSQL; STACK_TESTS picks the tests (CI: STACK_TESTS_SHORT)
STACK_TESTS_SHORT := TestStack(WorkerKill|ServerRestart|PostgresRestart|WebUI|CtrlC)
STACK_TESTS ?= TestRetryScheduleHeadersAndSignature|TestFourOhFourStopsAtOnce|TestFailsAfterFourAttempts|TestShowWhileRetrying|TestDuplicatePublishDeliversOnce|TestInvalidInputStartsNothing|TestWebhookRegistryRoutingAndFieldSelection|TestTestFire|TestInternalAddressesRefusedAtConfiguration|TestLimitHoldsAcrossTwoWorkers|TestKilledWorkerSlotsComeBack|TestWorkerCrashLosesNothing|TestStack
stack-test: deps $(TEMPORAL) stack-bins
	HARI_STACK=1 TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) go test -count=1 -timeout 25m -run '$(STACK_TESTS)' ./integration/

## stack-test-short: CI's part of stack-test (the three fault tests, the Web UI and the stop tests: STACK_TESTS_SHORT)
stack-test-short:
	$(MAKE) stack-test STACK_TESTS='$(STACK_TESTS_SHORT)'

## compose-check: docker-compose.yml against the Compose specification and against what make stack runs (no engine needed)
compose-check:
	cd deploy/composecheck && go vet . && go test -count=1 . && go run . ../../docker-compose.yml

## test: every test, against a real dev server and real HTTPS receivers
test: deps $(TEMPORAL) node-client
	go vet ./...
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) go test $(GO_TEST_FLAGS) ./...

## deps: install each Debian package the tests use that is missing (scripts/deps.sh, also run by CI)
deps:
	scripts/deps.sh

## unit: the tests that need no server
unit:
	go test -count=1 $$(go list ./... | grep -v /integration)

## node-client: install the pinned packages of scripts/node-client (the second SDK's client)
node-client: scripts/node-client/node_modules/.package-lock.json
scripts/node-client/node_modules/.package-lock.json: scripts/node-client/package-lock.json
	npm ci --prefix scripts/node-client --no-audit --no-fund

## temporal: build the pinned Temporal CLI (dev server + Web UI) into bin/
temporal: $(TEMPORAL)
$(TEMPORAL): tools/go.mod tools/go.sum
	mkdir -p bin
	go build -modfile=tools/go.mod -o $(TEMPORAL).new github.com/temporalio/cli/cmd/temporal
	mv -f $(TEMPORAL).new $(TEMPORAL)

## lint: gofmt and go vet (workflow determinism is guarded by the replay test)
lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	go vet ./...

## demo-event: publish testdata/events/demo_won.json (an opportunity moves to Closed Won) and wait: the
## registry routes it to the example webhook that make run seeded (HARI_WORKSPACE: the same workspace;
## TEMPORAL_PORT or TEMPORAL_ADDRESS, and HARI_DATA_DIR: the same as make run's, when moved)
demo-event:
	sed 's/"workspace": "yourcompany"/"workspace": "$(or $(HARI_WORKSPACE),yourcompany)"/' testdata/events/demo_won.json | \
	  TEMPORAL_ADDRESS=$(or $(TEMPORAL_ADDRESS),127.0.0.1:$(or $(TEMPORAL_PORT),7233)) \
	  HARI_CODEC_KEYS_FILE=$(or $(HARI_DATA_DIR),.data)/codec.keys HARI_ALLOW_CIDRS=127.0.0.1/32 go run ./starter publish --file - --wait

## clean: bin/, .data/ and artifacts/, and a stack's cluster kept under /var/tmp (named in .data/*/pgdata.path)
clean:
	for f in .data/*/pgdata.path; do \
	  [ -s "$$f" ] || continue; d=$$(dirname "$$(cat "$$f")"); \
	  case $$d in /var/tmp/hari-stack-pg.*) rm -rf "$$d" ;; esac; \
	done
	rm -rf bin .data artifacts

## bench: the delivery benchmark (real dev server with file persistence, Redis, HTTPS receivers); about 15 minutes
bench: $(TEMPORAL)
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) go run ./bench

## bench-postgres: the same benchmark on the Temporal server on PostgreSQL (make stack's backend, a fresh cluster per measurement)
bench-postgres: $(TEMPORAL) stack-bins
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) go run ./bench -backend postgres

## soak: 10,000 events as fast as they can be published, then reconciliation (publisher, receiver, Temporal)
soak: $(TEMPORAL)
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) go run ./bench -only L -load 10000

## fuzz: each fuzz target for FUZZTIME (default 30s); new findings land in the package's testdata/fuzz
FUZZTIME ?= 30s
fuzz:
	go test ./event -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	go test ./condition -run '^$$' -fuzz FuzzConditions -fuzztime $(FUZZTIME)
	go test ./api -run '^$$' -fuzz FuzzAPI -fuzztime $(FUZZTIME)

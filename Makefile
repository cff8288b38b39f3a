# HARi webhooks. `make run` starts everything on the embedded default;
# `make test` runs every test. See README.md.

SHELL := /bin/bash
TEMPORAL_CLI_VERSION := v1.5.1
TEMPORAL := bin/temporal
GO_TEST_FLAGS ?= -count=1 -timeout 20m

.PHONY: run test deps unit integration temporal node-client lint fmt demo-event clean bench soak fuzz

## run: Temporal dev server (file-backed, Web UI on :8233), worker and demo receiver
run: $(TEMPORAL)
	./scripts/run.sh

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
## registry routes it to the example webhook that make run seeded (HARI_WORKSPACE: the same workspace)
demo-event:
	sed 's/"workspace": "yourcompany"/"workspace": "$(or $(HARI_WORKSPACE),yourcompany)"/' testdata/events/demo_won.json | \
	  HARI_CODEC_KEYS_FILE=.data/codec.keys HARI_ALLOW_CIDRS=127.0.0.1/32 go run ./starter publish --file - --wait

clean:
	rm -rf bin .data artifacts

## bench: the delivery benchmark (real dev server with file persistence, Redis, HTTPS receivers); about 15 minutes
bench: $(TEMPORAL)
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) go run ./bench

## soak: 10,000 events as fast as they can be published, then reconciliation (publisher, receiver, Temporal)
soak: $(TEMPORAL)
	TEMPORAL_CLI=$(CURDIR)/$(TEMPORAL) go run ./bench -only L -load 10000

## fuzz: each fuzz target for FUZZTIME (default 30s); new findings land in the package's testdata/fuzz
FUZZTIME ?= 30s
fuzz:
	go test ./event -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	go test ./condition -run '^$$' -fuzz FuzzConditions -fuzztime $(FUZZTIME)
	go test ./api -run '^$$' -fuzz FuzzAPI -fuzztime $(FUZZTIME)

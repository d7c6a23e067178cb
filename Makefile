# satchel — build, test, demo. See README.md.
#
#   make            satchel-bundle and satchel-install for this host, plus static
#                   satchel-install for linux/amd64 and linux/arm64
#   make check      the fast inner loop (< 2 min warm): gofmt, go vet, go test -short
#   make test       the whole suite: vet, every test (no -short), hardening, e2e, e2e-vm (root);
#                   what CI runs (.ci/run)
#   make hardening  the TestHardening* tests; prints only their "hardening: " lines
#   make demo       offline demo: stand-in mirror + registry -> signed bundle -> ./demo-root
#   make e2e        real containerd/runc/runsc/docker run what a bundle installed, and
#                   satchel-bundle push into a real registry nodes pull from (root)
#   make e2e-vm     the same in a disconnected systemd VM under qemu
#   make e2e-fleet  Ansible rolls a bundle out over SSH to three hosts (root)
#   make bench      build/verify/apply next to the raw pipelines on real binaries, one
#                   table (test/bench/bench.sh; BENCH_LARGE=1 adds the ~2 GB corpus);
#                   make bench-quick proves it works in well under a minute (part of make test)

GO       ?= go
# A tagged build is its tag (v0.3.0, v0.3.0-12-gabc1234); an untagged one is
# the source's own version plus the commit (0.1.0-dev+abc1234), so that the
# installer still knows which bundles it reads (manifest.CheckInstallerVersion).
VERSION  ?= $(shell git describe --tags --dirty 2>/dev/null || echo "$$(sed -n 's/^var Version = "\(.*\)"$$/\1/p' internal/version/version.go)+$$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")
PKG      := github.com/satchel-dev/satchel
LDFLAGS  := -s -w -buildid= -X $(PKG)/internal/version.Version=$(VERSION)
# Static, reproducible: no cgo, no paths, no build ids, no VCS stamps.
GOBUILD  := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)"

.PHONY: all build check lint test unit vet hardening e2e e2e-push e2e-fleet e2e-vm bench bench-quick demo clean

all: build

build: bin/satchel-bundle bin/satchel-install bin/linux-amd64/satchel-install bin/linux-arm64/satchel-install

bin/satchel-bundle bin/satchel-install: FORCE
	$(GOBUILD) -o $@ ./cmd/$(subst satchel-,,$(notdir $@))

bin/linux-%/satchel-install: FORCE
	GOOS=linux GOARCH=$* $(GOBUILD) -o $@ ./cmd/install

bin/linux-%/satchel-bundle: FORCE
	GOOS=linux GOARCH=$* $(GOBUILD) -o $@ ./cmd/bundle

FORCE:

# Each step of `make test` is timed (test/timed.sh): "timing: NAME N s" lines, and a
# table in $(SATCHEL_TIMINGS) when set (.ci/run prints it).
TIMED := bash test/timed.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files -co --exclude-standard '*.go'); exit 1; }
	$(GO) vet ./...

# The inner loop: slow proofs (release builds under qemu-user, the demo, real
# containerd/dockerd, crash loops) skip under -short and say `make test` runs them.
check: vet lint
	$(GO) test -short ./...

# staticcheck (honnef.co/go/tools, pinned in .ci/run); skipped with a note where it is not installed.
STATICCHECK ?= $(shell command -v staticcheck || echo $$($(GO) env GOPATH)/bin/staticcheck)
lint:
	@if [ -x "$(STATICCHECK)" ]; then $(STATICCHECK) ./...; \
	else echo "lint: staticcheck not installed (go install honnef.co/go/tools/cmd/staticcheck@v0.8.2); CI runs it"; \
	  [ "$${CI:-}" != true ] || exit 1; fi

unit:
	@$(TIMED) "go test ./..." $(GO) test -count=1 ./...

hardening:
	@$(TIMED) hardening env GO=$(GO) bash test/hardening.sh

# The whole suite: what CI runs (.ci/run) and what README.md shows.
test: vet lint unit hardening e2e bench-quick e2e-fleet e2e-vm

demo: build
	$(GO) run ./internal/demo/cmd -bin bin -dir demo

e2e: build
	@$(TIMED) e2e bash test/e2e/run.sh
	@$(TIMED) e2e-push bash test/e2e/push.sh

e2e-push: build
	bash test/e2e/push.sh

e2e-vm: build
	@$(TIMED) e2e-vm bash test/e2e/vm.sh

e2e-fleet: build
	@$(TIMED) e2e-fleet bash test/e2e/fleet.sh

# A measurement, not a test (BENCHMARKS.md holds the latest table); quick mode only
# proves the benchmark runs.
bench: build
	bash test/bench/bench.sh

bench-quick: build
	@$(TIMED) bench-quick bash test/bench/bench.sh --quick

clean:
	rm -rf bin demo demo-root

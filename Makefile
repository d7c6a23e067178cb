# satchel — build, test, demo. See README.md.
#
#   make            satchel-bundle and satchel-install for this host, plus static
#                   satchel-install for linux/amd64 and linux/arm64
#   make test       the whole suite: vet, unit + integration tests, e2e (root)
#   make demo       offline demo: stand-in mirror + registry -> signed bundle -> ./demo-root
#   make e2e        real containerd/runc/runsc/docker run what a bundle installed (root)
#   make e2e-vm     the same in a disconnected systemd VM under qemu
#   make e2e-fleet  Ansible rolls a bundle out over SSH to three hosts (root)

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKG      := github.com/satchel-dev/satchel
LDFLAGS  := -s -w -buildid= -X $(PKG)/internal/version.Version=$(VERSION)
# Static, reproducible: no cgo, no paths, no build ids, no VCS stamps.
GOBUILD  := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)"

.PHONY: all build test unit vet e2e e2e-vm e2e-fleet demo clean

all: build

build: bin/satchel-bundle bin/satchel-install bin/linux-amd64/satchel-install bin/linux-arm64/satchel-install

bin/satchel-bundle bin/satchel-install: FORCE
	$(GOBUILD) -o $@ ./cmd/$(subst satchel-,,$(notdir $@))

bin/linux-%/satchel-install: FORCE
	GOOS=linux GOARCH=$* $(GOBUILD) -o $@ ./cmd/install

bin/linux-%/satchel-bundle: FORCE
	GOOS=linux GOARCH=$* $(GOBUILD) -o $@ ./cmd/bundle

FORCE:

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

unit:
	$(GO) test -count=1 ./...

# The whole suite: what CI runs (.ci/run) and what README.md shows.
test: vet unit e2e e2e-fleet e2e-vm

demo: build
	$(GO) run ./internal/demo/cmd -bin bin -dir demo

e2e: build
	bash test/e2e/run.sh

e2e-vm: build
	bash test/e2e/vm.sh

e2e-fleet: build
	bash test/e2e/fleet.sh

clean:
	rm -rf bin demo demo-root

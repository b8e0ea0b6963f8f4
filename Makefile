# kiln: build, test and benchmark. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
GOFLAGS_STATIC := -trimpath -ldflags='-s -w -buildid='
export CGO_ENABLED := 0

# System packages kiln's tests and sample runs need; installed when missing
# (gcc and libc6-dev: the race detector needs cgo; postgresql and util-linux's
# runuser: kiln serve's PostgreSQL tests; chromium: its web page's browser test;
# qemu-user-static and binfmt-support: builds for foreign platforms, arm64).
SYSTEM_PKGS := runc slirp4netns mmdebstrap docker-registry uidmap podman git ca-certificates bash curl gcc libc6-dev postgresql util-linux chromium qemu-user-static binfmt-support

# staticcheck 2026.2.2 (module v0.8.2), the first release for Go 1.26;
# `go install`ed into $(go env GOPATH)/bin when that holds another or none.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: help deps binfmt build kiln launcher test unit acceptance bench demo vet lint staticcheck staticcheck-tool clean install buildpacks

help:
	@echo "make demo        set up what is missing, build kiln, build and run the sample app"
	@echo "make test        vet, gofmt and staticcheck, unit tests with -race and acceptance tests"
	@echo "make unit        unit tests with the race detector"
	@echo "make lint        vet, gofmt and staticcheck"
	@echo "make bench       benchmarks"
	@echo "make build       bin/kiln and bin/launcher"
	@echo "make install     copy bin/kiln to /usr/local/bin"

# deps installs the Debian packages that are missing (needs root or sudo).
deps:
	@missing=""; for p in $(SYSTEM_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@$(MAKE) --no-print-directory binfmt || echo "make deps: warning: qemu user emulation is not registered; builds for foreign platforms (--platform linux/arm64) will fail until it is (make binfmt)" >&2

# binfmt registers qemu user emulation with the kernel (mounting binfmt_misc
# when absent), so arm64 programs run here: mmdebstrap's maintainer scripts
# of arm64 stacks, and the tools of arm64 builds.
binfmt:
	@test -r /proc/sys/fs/binfmt_misc/qemu-aarch64 && grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || { \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  test -e /proc/sys/fs/binfmt_misc/register || $$SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; \
	  $$SUDO update-binfmts --enable; \
	  grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "qemu-aarch64 is not registered with binfmt_misc" >&2; exit 1; }; }

launcher:
	@mkdir -p $(BIN)
	$(GO) build $(GOFLAGS_STATIC) -o $(BIN)/launcher ./cmd/launcher

# kiln embeds the launcher it puts into every app image, and kiln's
# buildpacks (a tar.gz, times and owners fixed) it makes the default builder with.
kiln: launcher buildpacks
	cp $(BIN)/launcher cmd/kiln/launcher.bin
	set -o pipefail; tar -C $(BIN)/buildpacks --sort=name --mtime=@315532801 --owner=0 --group=0 --numeric-owner -c . | gzip -n > cmd/kiln/buildpacks.tar.gz
	sha256sum cmd/kiln/buildpacks.tar.gz | cut -d' ' -f1 > cmd/kiln/buildpacks.tar.gz.sha256
	$(GO) build $(GOFLAGS_STATIC) -tags embedlauncher,embedbuildpacks -o $(BIN)/kiln ./cmd/kiln

build: kiln

install: build
	install -m 0755 $(BIN)/kiln /usr/local/bin/kiln

vet:
	$(GO) vet ./...
	$(GO) vet -tags acceptance ./acceptance/...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

# staticcheck-tool installs the pinned staticcheck unless it is there.
staticcheck-tool:
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION:v%=%))' || { \
	  echo "installing staticcheck $(STATICCHECK_VERSION) into $(dir $(STATICCHECK))"; \
	  GOBIN=$(dir $(STATICCHECK)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); }

# With the acceptance tag, ./... is every package plus the acceptance tests.
staticcheck: staticcheck-tool
	$(STATICCHECK) -tags acceptance ./...

lint: vet staticcheck

# The unit tests run with the race detector, which needs cgo. A race binary
# sleeps 1 s when it exits (to let late reports through); the sandbox tests
# re-execute theirs for every container, so GORACE turns that off. A few
# packages run mmdebstrap (stacks/debian builds a root file system twice
# to prove it reproducible): on a cold, busy machine, beside the
# acceptance tests' stack builds, they need more than go test's default
# 10 minutes.
unit: deps
	CGO_ENABLED=1 GORACE=atexit_sleep_ms=0 $(GO) test -race -count=1 -timeout 30m ./...

acceptance: deps build
	KILN_BIN=$(CURDIR)/$(BIN)/kiln $(GO) test -count=1 -tags acceptance -timeout 85m -v ./acceptance/... 2>&1 | tee /tmp/kiln-acceptance.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go' ; exit $${PIPESTATUS[0]}

# test runs lint, the unit and the acceptance tests at once (they wait
# mostly on containers, mmdebstrap and the network, not on both CPUs); each
# one's output is printed whole when it ends, the full acceptance log is
# /tmp/kiln-acceptance.log. Make stops with the first failure's status once
# all three have ended.
test:
	@echo "make test: lint, unit (-race) and acceptance run in parallel; each one's output follows when it ends"
	@$(MAKE) --no-print-directory -j3 --output-sync=target --keep-going lint unit acceptance

bench: deps build
	KILN_BIN=$(CURDIR)/$(BIN)/kiln $(GO) test -tags acceptance -run '^$$' -bench . -benchtime 1x -timeout 60m ./acceptance/...

demo: deps build
	./hack/demo.sh

clean:
	rm -rf $(BIN) cmd/kiln/launcher.bin cmd/kiln/buildpacks.tar.gz cmd/kiln/buildpacks.tar.gz.sha256

# buildpacks compiles kiln's first-party buildpacks into bin/buildpacks/<name>/.
buildpacks:
	$(GO) run ./buildpacks/cmd/package $(BIN)/buildpacks

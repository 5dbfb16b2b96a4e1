# lab: a reproducible regression lab for MicroK8s networking failures.
# Run as root on Debian/Ubuntu. `make lab` runs the whole matrix on the netns
# provider and writes reports/out/index.html; `make test` runs every test.

GO        ?= go
BIN       := bin
CNI_BIN   := $(BIN)/cni
HIDEXT    := $(BIN)/libhidext.so
APT_PKGS  := iproute2 iptables nftables firewalld dbus util-linux procps tini gcc libc6-dev chromium debootstrap debian-archive-keyring zstd qemu-system-x86 qemu-utils e2fsprogs openssh-client
# the programs those packages provide, to skip apt when all are present
NEED_CMDS := ip iptables-legacy ip6tables-legacy iptables-nft nft firewalld firewall-cmd dbus-daemon unshare nsenter tini pkill gcc chromium debootstrap zstd qemu-system-x86_64 qemu-img mkfs.ext4 debugfs ssh
# lima: limactl and its guest agent, pinned in harness/limaprov/tool/go.mod,
# built into bin/lima/{bin,share/lima} (the layout Lima expects)
LIMA_DIR  := $(BIN)/lima
LIMA_TOOL := harness/limaprov/tool
LIMA_BINS := $(LIMA_DIR)/bin/limactl $(LIMA_DIR)/share/lima/lima-guestagent.Linux-x86_64
LIMA_LDFLAGS := -ldflags=-X=github.com/lima-vm/lima/pkg/version.Version=$(shell sed -n 's/^require github.com\/lima-vm\/lima v//p; s/^[[:space:]]*github.com\/lima-vm\/lima v\([^ ]*\).*/\1/p' $(LIMA_TOOL)/go.mod)
# nightly: where the published site goes
SITE      ?= reports/site

.PHONY: all lab build deps test test-lima lima bench docs nightly images clean

all: build

## deps: install the Debian/Ubuntu packages the lab drives (only if missing)
deps:
	@missing=""; for c in $(NEED_CMDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing packages for:$$missing"; \
	  [ "$$(id -u)" = 0 ] || { echo "make deps: need root to apt-get install $(APT_PKGS)" >&2; exit 2; }; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $(APT_PKGS) >/dev/null; \
	  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now firewalld >/dev/null 2>&1 || true; fi; \
	fi

## build: the lab binary (static: it is also the agent pushed into nodes of any userspace), the pinned CNI plugins, the kernel-profile library
build: $(BIN)/lab $(CNI_BIN)/portmap $(HIDEXT)

$(BIN)/lab: FORCE
	CGO_ENABLED=0 $(GO) build -o $@ ./cmd/lab

$(CNI_BIN)/portmap: go.mod go.sum
	$(GO) build -o $(CNI_BIN)/ \
	  github.com/containernetworking/plugins/plugins/main/bridge \
	  github.com/containernetworking/plugins/plugins/main/loopback \
	  github.com/containernetworking/plugins/plugins/ipam/host-local \
	  github.com/containernetworking/plugins/plugins/meta/portmap

$(HIDEXT): harness/kernel/hidext/hidext.c
	@mkdir -p $(BIN)
	gcc -shared -fPIC -O2 -Wall -o $@ $< -ldl

## lima: build limactl and its guest agent (Lima v1.2.1, pinned) into bin/lima
lima: $(LIMA_BINS)

$(LIMA_DIR)/bin/limactl: $(LIMA_TOOL)/go.mod $(LIMA_TOOL)/go.sum
	cd $(LIMA_TOOL) && CGO_ENABLED=0 $(GO) build $(LIMA_LDFLAGS) -o $(CURDIR)/$@ github.com/lima-vm/lima/cmd/limactl

$(LIMA_DIR)/share/lima/lima-guestagent.Linux-x86_64: $(LIMA_TOOL)/go.mod $(LIMA_TOOL)/go.sum
	cd $(LIMA_TOOL) && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(LIMA_LDFLAGS) -o $(CURDIR)/$@ github.com/lima-vm/lima/cmd/lima-guestagent

FORCE:

## lab: run the whole matrix on netns and write reports/out/index.html
lab: deps build
	$(BIN)/lab matrix

## images: build every node image recipe in images/recipes (cached in /var/lib/lab/images)
images: deps $(BIN)/lab
	$(BIN)/lab images build

## test: every test (unit, kernel tests in throwaway namespaces, the features),
## then test-lima
test: deps build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) test-lima

## test-lima: the lima provider's tests in real VMs (slower: the first run builds
## the VM image, ~10 min; then a VM boot, 1-3 min under TCG); they skip with the
## reason where QEMU or limactl cannot run
test-lima: deps build lima
	LAB_LIMA_TEST=1 $(GO) test -count=1 -timeout 40m -run . ./harness/limaprov/

## bench: performance targets as Go benchmarks, printed as one table
## (figure, value, target, met/MISSED); the raw output goes to bin/bench.txt
bench: deps build
	@mkdir -p $(BIN)
	@$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./features/ ./harness/... > $(BIN)/bench.txt 2>&1; \
	  status=$$?; $(GO) run ./harness/benchtable < $(BIN)/bench.txt 2>/dev/null || cat $(BIN)/bench.txt; \
	  [ $$status = 0 ] || { echo "make bench: go test failed (exit $$status); see $(BIN)/bench.txt" >&2; exit $$status; }

## nightly: run the whole matrix and publish it with history into $(SITE)
nightly: deps build
	-$(BIN)/lab matrix --out $(SITE)
	$(BIN)/lab report --out $(SITE)

## docs: regenerate the step reference in features/README.md
docs: $(BIN)/lab
	@cat features/README.md.head > features/README.md
	@$(BIN)/lab steps --markdown >> features/README.md

## clean: remove build outputs and anything a crashed run left
clean:
	-[ -x $(BIN)/lab ] && $(BIN)/lab clean
	rm -rf $(BIN)

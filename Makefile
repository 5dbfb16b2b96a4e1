# lab: a reproducible regression lab for MicroK8s networking failures.
# Run as root on Debian/Ubuntu. `make lab` runs the whole matrix on the netns
# provider and writes reports/out/index.html; `make test` runs every test.

GO        ?= go
BIN       := bin
CNI_BIN   := $(BIN)/cni
HIDEXT    := $(BIN)/libhidext.so
APT_PKGS  := iproute2 iptables nftables firewalld dbus util-linux procps tini gcc libc6-dev chromium debootstrap debian-archive-keyring zstd
# the programs those packages provide, to skip apt when all are present
NEED_CMDS := ip iptables-legacy ip6tables-legacy iptables-nft nft firewalld firewall-cmd dbus-daemon unshare nsenter tini pkill gcc chromium debootstrap zstd
# nightly: where the published site goes
SITE      ?= reports/site

.PHONY: all lab build deps lxd test bench docs nightly images clean

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
	gcc -shared -fPIC -O2 -Wall -o $@ $< -Wl,--no-as-needed -ldl

FORCE:

## lxd: install (Debian's lxd), start and initialise LXD when needed (a user's initialised LXD is used as it is), and build the default node image the lxd tests boot
lxd: $(BIN)/lab
	@sh harness/lxdprov/setup.sh
	@$(BIN)/lab images build debian-bookworm >/dev/null

## lab: run the whole matrix on netns and write reports/out/index.html
lab: deps build
	$(BIN)/lab matrix

## images: build every node image recipe in images/recipes (cached in /var/lib/lab/images)
images: deps $(BIN)/lab
	$(BIN)/lab images build

## test: every test (unit, kernel tests in throwaway namespaces, the features)
test: deps build lxd
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

## bench: performance targets as Go benchmarks
bench: deps build lxd
	$(GO) test -run '^$$' -bench . -benchtime 5x ./...

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

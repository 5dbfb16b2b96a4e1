# lab: a reproducible regression lab for MicroK8s networking failures.
# Run as root on Debian/Ubuntu. `make lab` runs the whole matrix on the netns
# provider and writes reports/out/index.html; `make test` runs every test.

GO        ?= go
BIN       := bin
CNI_BIN   := $(BIN)/cni
# the CNI plugins versions profiles pin (cni.plugins_version): one module each
# in harness/cni/plugins-VERSION, built into bin/cni/VERSION/
CNI_VERSIONS := v1.2.0 v1.6.0
CNI_PLUGINS  := $(foreach v,$(CNI_VERSIONS),$(CNI_BIN)/$(v)/portmap)
# Kubernetes' own kube-proxy, one module per version in
# harness/kubeproxy/k8s-vMINOR (its go.mod pins the patch release), built
# into bin/kube-proxy/vX.Y.Z/kube-proxy; profiles pin kubernetes.version
KP_BIN    := $(BIN)/kube-proxy
KP_SHARED := $(wildcard harness/kubeproxy/_shared/*.go)
KUBE_PROXIES := $(KP_BIN)/v1.29.15/kube-proxy $(KP_BIN)/v1.32.2/kube-proxy
HIDEXT    := $(BIN)/libhidext.so
APT_PKGS  := iproute2 iptables nftables conntrack firewalld dbus util-linux procps tini gcc libc6-dev chromium debootstrap debian-archive-keyring zstd qemu-system-x86 qemu-utils e2fsprogs openssh-client
# the programs those packages provide, to skip apt when all are present
NEED_CMDS := ip iptables-legacy ip6tables-legacy iptables-nft nft conntrack firewalld firewall-cmd dbus-daemon unshare nsenter tini pkill gcc chromium debootstrap zstd qemu-system-x86_64 qemu-img mkfs.ext4 debugfs ssh
# lima: limactl and its guest agent, pinned in harness/limaprov/tool/go.mod,
# built into bin/lima/{bin,share/lima} (the layout Lima expects)
LIMA_DIR  := $(BIN)/lima
LIMA_TOOL := harness/limaprov/tool
LIMA_BINS := $(LIMA_DIR)/bin/limactl $(LIMA_DIR)/share/lima/lima-guestagent.Linux-x86_64
LIMA_LDFLAGS := -ldflags=-X=github.com/lima-vm/lima/pkg/version.Version=$(shell sed -n 's/^require github.com\/lima-vm\/lima v//p; s/^[[:space:]]*github.com\/lima-vm\/lima v\([^ ]*\).*/\1/p' $(LIMA_TOOL)/go.mod)
# nightly: where the published site goes
SITE      ?= reports/site

# provider packages whose tests boot containers or VMs and make bridges and
# rules on the host: `make test` runs them after the others, one at a time,
# so the tests that compare the host before and after a run never see them
PROVIDER_PKGS := /harness/(dockerprov|lxdprov|limaprov|microk8s)$$
# fuzz: a -fuzztime for every target of `make fuzz` (e.g. 60s); unset, each
# target runs its own count of inputs (below, about 10 s each here). Counts,
# not durations, because Go 1.26's fuzz coordinator can fail a target with
# "context deadline exceeded" at the end of a duration (golang/go#75804,
# fixed in Go 1.27): seen in `make test` on a fresh machine
FUZZTIME  ?=
# the fuzz targets: package, target name and count of inputs
FUZZ      := ./harness/feature:FuzzParse:150000x ./harness/profile:FuzzLoad:6000x ./harness/iptables:FuzzParseSave:30000x ./harness/results:FuzzDecodeCell:300000x ./harness/agent:FuzzServe:80000x

.PHONY: all lab build deps test bench docs nightly images clean mutants fuzz ci flips kube-proxy lxd test-lima lima

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
build: $(BIN)/lab $(CNI_PLUGINS) $(KUBE_PROXIES) $(HIDEXT)

$(BIN)/lab: FORCE
	CGO_ENABLED=0 $(GO) build -o $@ ./cmd/lab

# static: they run inside nodes of any userspace
$(CNI_BIN)/%/portmap: harness/cni/plugins-%/go.mod harness/cni/plugins-%/go.sum
	cd harness/cni/plugins-$* && CGO_ENABLED=0 $(GO) build -trimpath -o $(CURDIR)/$(CNI_BIN)/$*/ tool

# rebuilt only when the version's module or the shared source changes
# (a cold build takes minutes: see harness/kubeproxy/README.md)
$(KP_BIN)/v1.29.15/kube-proxy: $(wildcard harness/kubeproxy/k8s-v1.29/*) $(KP_SHARED)
	cd harness/kubeproxy/k8s-v1.29 && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(CURDIR)/$@ .
$(KP_BIN)/v1.32.2/kube-proxy: $(wildcard harness/kubeproxy/k8s-v1.32/*) $(KP_SHARED)
	cd harness/kubeproxy/k8s-v1.32 && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(CURDIR)/$@ .

## kube-proxy: only the kube-proxy binaries
kube-proxy: $(KUBE_PROXIES)

$(HIDEXT): harness/kernel/hidext/hidext.c
	@mkdir -p $(BIN)
	gcc -shared -fPIC -O2 -Wall -o $@ $< -Wl,--no-as-needed -l:libdl.so.2

## lima: build limactl and its guest agent (Lima v1.2.1, pinned) into bin/lima
lima: $(LIMA_BINS)

$(LIMA_DIR)/bin/limactl: $(LIMA_TOOL)/go.mod $(LIMA_TOOL)/go.sum
	cd $(LIMA_TOOL) && CGO_ENABLED=0 $(GO) build $(LIMA_LDFLAGS) -o $(CURDIR)/$@ github.com/lima-vm/lima/cmd/limactl

$(LIMA_DIR)/share/lima/lima-guestagent.Linux-x86_64: $(LIMA_TOOL)/go.mod $(LIMA_TOOL)/go.sum
	cd $(LIMA_TOOL) && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(LIMA_LDFLAGS) -o $(CURDIR)/$@ github.com/lima-vm/lima/cmd/lima-guestagent

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
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v -E '$(PROVIDER_PKGS)')
	$(GO) test -count=1 -p 1 -timeout 30m $$($(GO) list ./... | grep -E '$(PROVIDER_PKGS)')
	$(MAKE) --no-print-directory mutants
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory test-lima

## test-lima: the lima provider's tests in real VMs (slower: the first run builds
## the VM image, ~10 min; then a VM boot, 1-3 min under TCG); they skip with the
## reason where QEMU or limactl cannot run
test-lima: deps build lima
	LAB_LIMA_TEST=1 $(GO) test -count=1 -timeout 40m -run . ./harness/limaprov/

## bench: performance targets as Go benchmarks, printed as one table
## (figure, value, target, met/MISSED); the raw output goes to bin/bench.txt.
## It includes a lima VM cell (one VM boot under QEMU TCG, a few minutes)
bench: deps build lxd lima images
	@mkdir -p $(BIN)
	@LAB_LIMA_TEST=1 $(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./features/ ./harness/... > $(BIN)/bench.txt 2>&1; \
	  status=$$?; $(GO) run ./harness/benchtable < $(BIN)/bench.txt 2>/dev/null || cat $(BIN)/bench.txt; \
	  [ $$status = 0 ] || { echo "make bench: go test failed (exit $$status); see $(BIN)/bench.txt" >&2; exit $$status; }

## nightly: the unattended nightly: matrix with a deadline into reports/nightly-runs,
## retention, and the site published atomically into $(SITE)
nightly: deps build
	$(BIN)/lab nightly --site $(SITE)

## mutants: apply each harness/mutants/testdata/*.patch to a copy of the tree
## and expect its tests to fail (LAB_MUTANT=NAME runs one)
mutants: deps build
	LAB_MUTANTS=1 $(GO) test -count=1 -v -timeout 60m -run TestMutants ./harness/mutants

## fuzz: run every fuzz target for its count of inputs (or for $(FUZZTIME) each)
fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; n=$${rest#*:}; \
	  f="$(FUZZTIME)"; n=$${f:-$$n}; echo "fuzz $$pkg $$name ($$n)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $$n -timeout 10m $$pkg || exit 1; done

## ci: what CI runs (.ci/run): make test, which includes the mutants and
## the fuzz targets (each for its count of inputs)
ci: test

## flips: the whole netns matrix 20 times, twice at once (-j 2 each), and
## every cell whose verdict flips or is bad (make test runs it twice)
flips: deps build
	LAB_FLIPS=$${LAB_FLIPS:-20} $(GO) test -count=1 -v -timeout 90m -run TestNoFlipsUnderLoad ./features/

## docs: regenerate the step reference in features/README.md
docs: $(BIN)/lab
	@cat features/README.md.head > features/README.md
	@$(BIN)/lab steps --markdown >> features/README.md

## clean: remove build outputs and anything a crashed run left
clean:
	-[ -x $(BIN)/lab ] && $(BIN)/lab clean
	rm -rf $(BIN)

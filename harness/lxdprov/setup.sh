#!/bin/sh
# setup.sh: make an LXD daemon answer for the lab's lxd provider (used by
# `make lxd`, which `make test` runs). Idempotent and fast when all is up:
#   1. install Debian's lxd when no lxd is installed;
#   2. start the daemon when none answers (no systemd here: `lxd --group lxd`
#      in the background, log in $LAB_LXD_LOG), then `lxd waitready`;
#   3. only when the daemon is uninitialised (no storage pool), initialise it
#      from a preseed: a storage pool (btrfs on a loop file when the kernel
#      has btrfs, else dir) and the bridge labbr0 with an explicit subnet;
#      a user's already initialised LXD is used as it is, never reconfigured;
#   4. let bridged traffic between the lab's bridges (names lab*) through
#      Docker's FORWARD DROP: one ACCEPT rule in DOCKER-USER (in FORWARD when
#      Docker made no DOCKER-USER chain), added once.
# LXD_DIR selects the daemon (default: the snap's when its socket exists,
# else Debian's /var/lib/lxd). Needs root.
set -eu

LOG=${LAB_LXD_LOG:-/var/log/lab-lxd.log}
SUBNET=${LAB_LXD_SUBNET:-10.213.77.1/24}
if [ -z "${LXD_DIR:-}" ]; then
	if [ -S /var/snap/lxd/common/lxd/unix.socket ]; then
		LXD_DIR=/var/snap/lxd/common/lxd
	else
		LXD_DIR=/var/lib/lxd
	fi
fi
export LXD_DIR

say() { echo "lxd setup: $*"; }

if [ "$(id -u)" != 0 ]; then
	echo "lxd setup: needs root (installs and starts LXD)" >&2
	exit 2
fi

# 1. install
if ! command -v lxd >/dev/null 2>&1 || ! command -v lxc >/dev/null 2>&1 || ! command -v dnsmasq >/dev/null 2>&1; then
	say "installing Debian's lxd"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends lxd lxd-client dnsmasq-base >/dev/null
fi

# 2. daemon
if ! lxc query /1.0 >/dev/null 2>&1; then
	if [ "$LXD_DIR" = /var/snap/lxd/common/lxd ]; then
		echo "lxd setup: the snap's LXD does not answer; start it (snap start lxd)" >&2
		exit 1
	fi
	say "starting lxd --group lxd (LXD_DIR=$LXD_DIR, log $LOG)"
	mkdir -p "$LXD_DIR" "$(dirname "$LOG")"
	setsid lxd --group lxd --logfile "$LOG" </dev/null >>"$LOG" 2>&1 &
	if ! lxd waitready --timeout 120; then
		echo "lxd setup: the daemon did not get ready; see $LOG" >&2
		tail -n 20 "$LOG" >&2 || true
		exit 1
	fi
fi

# 3. preseed, only when uninitialised
if [ -z "$(lxc storage list --format csv 2>/dev/null)" ]; then
	driver=dir
	if grep -qw btrfs /proc/filesystems && [ -e /dev/loop-control ]; then
		if ! command -v mkfs.btrfs >/dev/null 2>&1; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends btrfs-progs >/dev/null 2>&1 || true
		fi
		command -v mkfs.btrfs >/dev/null 2>&1 && driver=btrfs
	fi
	pool_config=""
	[ "$driver" = btrfs ] && pool_config="
  config:
    size: 40GiB"
	say "initialising LXD: storage pool default ($driver), bridge labbr0 ($SUBNET)"
	lxd init --preseed <<PRESEED
storage_pools:
- name: default
  driver: $driver$pool_config
networks:
- name: labbr0
  type: bridge
  config:
    ipv4.address: $SUBNET
    ipv4.nat: "false"
    ipv4.firewall: "false"
    ipv6.address: none
profiles:
- name: default
  devices:
    root:
      type: disk
      path: /
      pool: default
    eth0:
      type: nic
      network: labbr0
      name: eth0
PRESEED
fi

# 4. Docker's FORWARD DROP: accept bridged traffic between lab bridges only.
if command -v iptables >/dev/null 2>&1; then
	rule="-i lab+ -o lab+ -m comment --comment lab-lxd-bridges -j ACCEPT"
	chain=FORWARD
	if iptables -n -L DOCKER-USER >/dev/null 2>&1; then
		chain=DOCKER-USER
		# a rule of ours from before Docker made DOCKER-USER
		# shellcheck disable=SC2086
		while iptables -D FORWARD $rule 2>/dev/null; do :; done
	fi
	# shellcheck disable=SC2086
	if ! iptables -C $chain $rule 2>/dev/null; then
		say "iptables -I $chain $rule"
		iptables -I $chain $rule
	fi
fi
exit 0

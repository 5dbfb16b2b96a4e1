#!/usr/bin/env bash
# Reproduces canonical/microk8s#4944 by hand, the way people do in the
# upstream threads: network namespaces for a node, two pods and a client,
# the pinned CNI plugins (bridge + host-local, then portmap) called by hand
# with their CNI_* environment and the conf on stdin, iptables-legacy first
# in PATH as MicroK8s bundles it, `microk8s stop` as removing the pod
# sandboxes without a CNI DEL, `start` as new sandboxes with CNI ADD, then
# iptables-legacy-save and curl. It checks the same facts as the lab's cell
# (2 -> 4 jumps in CNI-HOSTPORT-DNAT, the public address dead) and is the
# baseline the lab is benchmarked against (features/bench_test.go).
#
# Usage: dnat-stop-start.sh CNI_PLUGIN_DIR
# Prints one line of facts; exit 0 when the failure reproduced, 1 when not,
# 2 on bad usage. Everything it makes is named lab-shXXXXXX-* and removed on
# exit.
set -euo pipefail
CNI=${1:-}
if [ -z "$CNI" ] || [ ! -x "$CNI/bridge" ] || [ ! -x "$CNI/portmap" ]; then
  echo "usage: $0 CNI_PLUGIN_DIR (with bridge, host-local, portmap; make build puts them in bin/cni)" >&2
  exit 2
fi
id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
P=lab-sh$id
NODE=$P-node CLIENT=$P-client
state=$(mktemp -d /tmp/lab-baseline.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do
    for q in $(ip netns pids "$ns"); do kill -9 "$q" 2>/dev/null || true; done
    ip netns delete "$ns"
  done
  rm -rf "$state"
}
trap cleanup EXIT

# MicroK8s' bundled iptables is legacy: shim it first in PATH for portmap.
mkdir -p "$state/bin"
ln -sf /usr/sbin/iptables-legacy "$state/bin/iptables"
ln -sf /usr/sbin/iptables-legacy-save "$state/bin/iptables-save"
ln -sf /usr/sbin/iptables-legacy-restore "$state/bin/iptables-restore"
ln -sf /usr/sbin/ip6tables-legacy "$state/bin/ip6tables"
export PATH="$state/bin:$PATH" XTABLES_LOCKFILE="$state/xtables.lock"

ip netns add "$NODE"
ip netns add "$CLIENT"
ip link add name eth0 netns "$NODE" type veth peer name eth0 netns "$CLIENT"
ip -n "$NODE" addr add 198.51.100.10/24 dev eth0
ip -n "$CLIENT" addr add 198.51.100.11/24 dev eth0
for ns in "$NODE" "$CLIENT"; do ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; done
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1

NET=microk8s-flannel-network
# add_pod NAME GEN PORTS: a sandbox, CNI ADD (bridge, then portmap with the
# bridge's result), python3 http.server on each container port.
add_pod() {
  local name=$1 gen=$2 ports=$3 pod=$P-$1-$2 cid mappings res ip port
  ip netns add "$pod"
  cid=$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mappings=""
  for port in ${ports//,/ }; do
    mappings="$mappings${mappings:+,}{\"hostPort\":$port,\"containerPort\":$port,\"protocol\":\"tcp\"}"
  done
  export CNI_COMMAND=ADD CNI_CONTAINERID=$cid CNI_NETNS=/run/netns/$pod CNI_IFNAME=eth0 CNI_PATH=$CNI
  res=$(ip netns exec "$NODE" "$CNI/bridge" <<JSON
{"cniVersion":"1.0.0","name":"$NET","type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":false,"hairpinMode":true,
 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.84.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"$state/ipam"}}
JSON
)
  ip netns exec "$NODE" "$CNI/portmap" >/dev/null <<JSON
{"cniVersion":"1.0.0","name":"$NET","type":"portmap","capabilities":{"portMappings":true},"snat":true,
 "runtimeConfig":{"portMappings":[$mappings]},"prevResult":$res}
JSON
  ip=$(printf '%s' "$res" | grep -o '"address": *"[0-9.]*' | head -1 | grep -o '[0-9.]*$')
  for port in ${ports//,/ }; do
    ip netns exec "$pod" python3 -m http.server "$port" --bind "$ip" >/dev/null 2>&1 &
    pids+=($!)
  done
}
jumps() { ip netns exec "$NODE" iptables-legacy-save -t nat | grep -c '^-A CNI-HOSTPORT-DNAT ' || true; }
wait_port() { for _ in $(seq 100); do ip netns exec "$NODE" bash -c "echo > /dev/tcp/$1/$2" 2>/dev/null && return 0; sleep 0.02; done; return 1; }

add_pod ingress 1 80,443
add_pod web 1 9071,9669
before=$(jumps)
# microk8s stop (1.32.2): containers removed with ctr, no CNI DEL.
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
pids=()
ip netns delete "$P-ingress-1"
ip netns delete "$P-web-1"
# microk8s start: new sandboxes, CNI ADD again.
add_pod ingress 2 80,443
add_pod web 2 9071,9669
after=$(jumps)
new_ip=$(ip -n "$P-ingress-2" -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
wait_port "$new_ip" 80 || true
http() { ip netns exec "$CLIENT" curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://198.51.100.10:$1/" || true; }
h80=$(http 80)
h443=$(http 443)
out() { [ "$1" = 000 ] && echo timeout || echo "$1"; }
echo "dnat_jumps_before=$before dnat_jumps_after=$after public_http_80=$(out "$h80") public_http_443=$(out "$h443")"
[ "$after" -ge 3 ] && [ "$h80" != 200 ]

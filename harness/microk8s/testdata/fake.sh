#!/bin/sh
# A stand-in for snap, microk8s, curl and conntrack in a test node: it
# records every invocation (one line: the command's base name and its
# arguments) in /var/lib/lab-fake/calls and the stdin of `kubectl apply -f
# -` in /var/lib/lab-fake/apply-N.yaml, and prints what the real command
# prints for the answers the driver reads.
d=/var/lib/lab-fake
mkdir -p $d
name=${0##*/}
printf '%s' "$name" >> $d/calls
for a in "$@"; do printf ' %s' "$a" >> $d/calls; done
printf '\n' >> $d/calls
next() { n=$(cat $d/$1 2>/dev/null || echo 0); n=$((n+1)); echo $n > $d/$1; echo $n; }
case "$name $*" in
"snap install microk8s"*) echo "microk8s (1.32/stable) v1.32.2 from Canonical** installed" ;;
"snap list microk8s") printf 'Name      Version  Rev   Tracking     Publisher   Notes\nmicrok8s  v1.32.2  7731  1.32/stable  canonical** classic\n' ;;
"microk8s status"*) echo "microk8s is running" ;;
"microk8s kubectl apply -f -") n=$(next applies); cat > $d/apply-$n.yaml; echo "applied $n" ;;
"microk8s kubectl wait"*) echo "${4} condition met" ;;
"microk8s kubectl get pod"*) echo "10.1.84.$(next ips)" ;;
"microk8s "*) ;;
"curl "*) printf 200 ;;
"conntrack "*) echo "tcp      6 118 SYN_SENT src=198.51.100.11 dst=198.51.100.10 sport=40000 dport=80 [UNREPLIED] src=10.1.84.1 dst=198.51.100.11 sport=80 dport=40000 mark=0 use=1"
  echo "conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown." >&2 ;;
*) echo "fake: unexpected $name $*" >&2; exit 64 ;;
esac

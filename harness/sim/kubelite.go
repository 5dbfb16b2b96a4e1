package sim

import (
	"context"
	"fmt"
	"strings"

	"lab/harness/execx"
	"lab/harness/iptables"
)

// MicroK8sClusterCIDR is kube-proxy's --cluster-cidr in MicroK8s' default
// arguments (microk8s-resources/default-args/kube-proxy, the same at the
// v1.29 to v1.32 tags): the pod CIDR run-kubelite-with-args accepts in
// FORWARD.
const MicroK8sClusterCIDR = "10.1.0.0/16"

// PodForwardComment is the comment of MicroK8s' own FORWARD rules.
const PodForwardComment = "generated for MicroK8s pods"

// KubeliteForwardRules returns the commands MicroK8s' kubelite wrapper
// (microk8s-resources/wrappers/run-kubelite-with-args, v1.29 to v1.32) runs
// when kubelite starts, unless the first rule is already in the snap's
// `iptables` (legacy): accept forwarded traffic from and to the pod CIDR in
// the filter table's FORWARD chain of both `iptables` (the snap's 1.8.6,
// legacy) and `iptables-nft`, appended, each `|| true`. The first command
// is the check (`iptables -C`).
func KubeliteForwardRules(cidr string) (check []string, appends [][]string) {
	rule := func(bin, dir string) []string {
		return []string{bin, "-t", "filter", "-A", "FORWARD", dir, cidr, "-m", "comment", "--comment", PodForwardComment, "-j", "ACCEPT"}
	}
	legacy, nft := iptables.Binary("iptables", "legacy"), iptables.Binary("iptables", "nft")
	check = []string{legacy, "-C", "FORWARD", "-s", cidr, "-m", "comment", "--comment", PodForwardComment, "-j", "ACCEPT"}
	return check, [][]string{rule(legacy, "-s"), rule(legacy, "-d"), rule(nft, "-s"), rule(nft, "-d")}
}

// addKubeliteForward does what run-kubelite-with-args does to FORWARD when
// kubelite starts on a node (KubeliteForwardRules). Like the wrapper it
// goes on when an append fails; the failures are returned as text for the
// node's record ("" when every rule went in or was there).
func (n *Node) addKubeliteForward(ctx context.Context) string {
	check, appends := KubeliteForwardRules(MicroK8sClusterCIDR)
	if _, err := n.Run(ctx, execx.Cmd{Argv: check}); err == nil {
		return ""
	}
	var failed []string
	for _, a := range appends {
		if _, err := n.Run(ctx, execx.Cmd{Argv: a}); err != nil {
			failed = append(failed, fmt.Sprintf("%s (ignored, `|| true` in run-kubelite-with-args): %v", strings.Join(a, " "), err))
		}
	}
	return strings.Join(failed, "\n")
}

package kubeproxy

import (
	"strings"
	"testing"

	"lab/harness/iptables"
)

func TestNodePortRules(t *testing.T) {
	ing := svc(false, "10.1.84.9")
	ing.Name, ing.NodePort = "ingress", 30080
	web := svc(false, "10.1.84.2")
	d, err := iptables.Parse(Restore(cfg4, []Service{web, ing}))
	if err != nil {
		t.Fatal(err)
	}
	rules := d.Chain("nat", "KUBE-SERVICES").Rules
	if last := rules[len(rules)-1]; last.Target != NodePortsChain || !strings.Contains(last.Raw, "--dst-type LOCAL") {
		t.Errorf("last KUBE-SERVICES rule = %q, want the jump to %s for local addresses", last.Raw, NodePortsChain)
	}
	np := d.Chain("nat", NodePortsChain)
	if np == nil || len(np.Rules) != 1 || np.Rules[0].Target != ing.ExtChain() || !strings.Contains(np.Rules[0].Raw, "--dport 30080") {
		t.Fatalf("%s = %+v, want one rule for port 30080 to %s", NodePortsChain, np, ing.ExtChain())
	}
	ext := d.Chain("nat", ing.ExtChain()).Rules
	if len(ext) != 2 || ext[0].Target != "KUBE-MARK-MASQ" || ext[1].Target != ing.SvcChain() {
		t.Errorf("%s rules = %+v, want mark-masq then %s", ing.ExtChain(), ext, ing.SvcChain())
	}
	if !strings.HasPrefix(ing.ExtChain(), "KUBE-EXT-") || ing.ExtChain()[9:] != ing.SvcChain()[9:] {
		t.Errorf("ExtChain %q does not share the Service's hash with %q", ing.ExtChain(), ing.SvcChain())
	}
	if out := Restore(cfg4, []Service{web}); strings.Contains(out, NodePortsChain) {
		t.Errorf("payload without NodePorts mentions %s:\n%s", NodePortsChain, out)
	}
	noEP := svc(false)
	noEP.NodePort = 30081
	if out := Restore(cfg4, []Service{noEP}); strings.Contains(out, "30081") {
		t.Errorf("a NodePort without endpoints must not be DNATed:\n%s", out)
	}
}

package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/kernel"
)

// feature wraps steps into a one-row Scenario Outline for profile p; the
// first step is on line 4.
func featureText(steps string, extraCol string) string {
	hdr, row := "| profile |", "| p |"
	if extraCol != "" {
		hdr, row = "| profile | "+extraCol+" |", "| p | 1 |"
	}
	return "Feature: f\n  Scenario Outline: s on <profile>\n" +
		"    Given a Calico node \"node1\" with pod CIDRs \"10.1.0.0/16\"\n" + steps +
		"\n    Examples:\n      " + hdr + "\n      " + row + "\n"
}

// checkDir writes a feature and a profile p (plus extra profile files) and
// returns the problems lab check reports.
func checkDir(t *testing.T, feat, prof string) []Problem {
	t.Helper()
	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	xt := filepath.Join(dir, "xtables")
	for _, d := range []string{images, xt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, lib := range []string{"libxt_recent.so", "libxt_MARK.so", "libxt_comment.so", "libip6t_REJECT.so"} {
		if err := os.WriteFile(filepath.Join(xt, lib), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(images, "p.yaml"), []byte("description: test\n"+prof), 0o644); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "f.feature")
	if err := os.WriteFile(f, []byte(feat), 0o644); err != nil {
		t.Fatal(err)
	}
	known, err := kernel.ReadExtensions(xt)
	if err != nil {
		t.Fatal(err)
	}
	c := NewChecker(images)
	c.Known = known
	probs, _ := c.Files([]string{f})
	return probs
}

// TestCheckCatchesAuthoringMistakes covers each authoring mistake of issue
// 12: each is reported with its file:line before anything boots.
func TestCheckCatchesAuthoringMistakes(t *testing.T) {
	cases := []struct {
		name, steps, col, prof string
		line                   int // 0: any
		want                   string
	}{
		{name: "at least abc", steps: `    Then observation "x" should be at least abc`, line: 4, want: `"abc" is not a number`},
		{name: "port out of range", steps: `    Given a pod "web" on "node1" serving HTTP on port 99999`, line: 4, want: "bad port \"99999\": want 1-65535"},
		{name: "bad CIDR", steps: `    Given a provider gateway "gw" in front of "node1" with the internet "203.0.113.0/33"`, line: 4, want: `bad CIDR "203.0.113.0/33"`},
		{name: "bad pod CIDR", steps: `    Given a Calico node "node2" with pod CIDRs "10.2.0.0"`, line: 4, want: `pod CIDRs "10.2.0.0"`},
		{name: "bad ClusterIP", steps: `    Given a pod "web" on "node1" serving HTTP on port 80` + "\n" + `    Given a ClusterIP Service "s" with IPs "10.152.183.300" on port 80 for pod "web"`, line: 5, want: `bad IP "10.152.183.300"`},
		{name: "count out of range", steps: `    When "node1" opens 0 HTTP connections to "web" as "b"`, line: 4, want: `bad count "0"`},
		{name: "unknown placeholder", steps: `    Then observation "x" should be "<expected>"`, col: "jumps", line: 4, want: "unknown placeholder <expected>: the Examples (row at line 7) have columns <jumps>, <profile>"},
		{name: "pod list where one pod is expected", steps: `    When "node1" requests HTTP from pod "a,b" over ipv4 as "x"`, line: 4, want: `"a,b" is a list where one name is expected`},
		{name: "bad family", steps: `    When kube-proxy syncs the ipv5 Services on "node1" as "x"`, line: 4, want: "undefined step"},
		{name: "bad table", steps: `    When I count the jumps in chain "KUBE-SERVICES" of table "nats" on "node1" as "x"`, line: 4, want: `bad table "nats"`},
		{name: "unterminated quote in a command", steps: `    When I run "echo \"hi" on "node1"`, line: 4, want: "unterminated quote"},
		{name: "pod on an undeclared node", steps: `    Given a pod "web" on "node9" serving HTTP on port 80`, line: 4, want: `which no earlier step declares`},
		{name: "two-node pod-to-pod over IPv6", steps: `    Given a Calico node "node2" with pod CIDRs "10.2.0.0/16,fd02::/64"` + "\n" + `    Given a pod "a" on "node1"` + "\n" + `    Given a pod "b" on "node2" serving HTTP on port 80` + "\n" + `    When "a" requests HTTP from pod "b" over ipv6 as "x"`, line: 7, want: "the nodes route each other's pods over IPv4 only"},
		{name: "undeclared node", steps: `    When MicroK8s is stopped on "node2"`, line: 4, want: `no host "node2" declared before this step (declared: node1)`},
		{name: "undeclared Service", steps: `    When "node1" requests HTTP from Service "nope" over ipv4 as "x"`, line: 4, want: `no Service "nope" declared before this step`},
		{name: "undeclared pod to run in", steps: `    When I run "ip route" in pod "ghost" as "r"`, line: 4, want: `no pod "ghost" created before this step`},
		{name: "observation never recorded", steps: `    When I count the jumps in chain "CNI-HOSTPORT-DNAT" of table "nat" on "node1" as "jumps"` + "\n" + `    Then observation "jumsp" should be "2"`, line: 5, want: `observation "jumsp" is not recorded by any earlier step (recorded so far: jumps)`},
		{name: "ingress on a UDP hostPort", steps: `    Given a pod "zeus" on "node1" serving HTTP on port 8080` + "\n" + `    Given an ingress pod "ing" on "node1" with hostPorts "80,5353/udp" and routes "/setup=pod:zeus"`, line: 5, want: `ingress "ing": hostPort 5353/udp: the ingress controller serves TCP only`},
		{name: "hostPort ingress route to an undeclared pod", steps: `    Given an ingress pod "ing" on "node1" with hostPorts "80,443" and routes "/setup=pod:zeus"`, line: 4, want: `route /setup: no pod "zeus" created before this step`},
		{name: "ingress route to an undeclared Service", steps: `    Given an ingress pod "ing" on "node1" listening on port 80 with routes "/a=service:zeus"`, line: 4, want: `route /a: no Service "zeus" declared before this step`},
		{name: "tcp_ack_ports abc", prof: "provider_firewall:\n  name: x\n  tcp_ack_ports: abc\n", line: 4, want: `provider_firewall.tcp_ack_ports: port range "abc"`},
		{name: "kube-proxy release without a module", steps: `    Given kube-proxy runs on "node1"`, prof: "microk8s:\n  kubernetes: v1.31.6\n", line: 4, want: "pins Kubernetes v1.31.6, which no kube-proxy module builds"},
		{name: "bogus firewalld backend", prof: "firewalld:\n  enabled: true\n  backend: ipchains\n", line: 4, want: `firewalld.backend: "ipchains" is not a firewalld backend`},
		{name: "kernel extension xt_recent", prof: "kernel:\n  missing:\n    ipv4:\n      matches: [xt_recent]\n", line: 5, want: `did you mean "recent"?`},
		{name: "IPv4-only extension hidden for IPv6", prof: "kernel:\n  missing:\n    ipv6:\n      targets: [MARK, LOG]\n", line: 5, want: `ipv6 target "LOG" is not an extension iptables knows`},
		{name: "unknown profile field", prof: "firewald:\n  enabled: true\n", line: 2, want: "field firewald not found"},
		{name: "wrong field type", prof: "microk8s:\n  revision: abc\n", line: 3, want: "cannot unmarshal"},
		{name: "sysctl typo", prof: "sysctls:\n  net.ipv4.ip_forwrd: \"1\"\n", line: 3, want: `no such sysctl on this host's kernel`},
		{name: "non-network sysctl", prof: "sysctls:\n  kernel.pid_max: \"1000\"\n", line: 3, want: `only network-namespace sysctls`},
		{name: "kube-proxy ipvs mode", prof: "kube_proxy:\n  mode: ipvs\n", line: 3, want: `builds kube-proxy's iptables and nftables Proxiers only`},
		{name: "kube-proxy nftables mode before v1.29", prof: "microk8s:\n  kubernetes: v1.28.15\nkube_proxy:\n  mode: nftables\n", want: `kube_proxy.mode: kube-proxy mode nftables: Kubernetes v1.28.15 has no nftables Proxier`},
		{name: "kube-proxy nftables mode without a release", prof: "kube_proxy:\n  mode: nftables\n", want: `is not a Kubernetes release like v1.32.2 (microk8s.kubernetes)`},
		{name: "unknown kube-proxy mode", prof: "kube_proxy:\n  mode: userspace\n", line: 3, want: `"userspace" is not a kube-proxy mode; use iptables or nftables`},
		{name: "MTU out of range", prof: "uplink_mtu: 99\n", line: 2, want: `"99" is not an MTU`},
		{name: "pod list for a Service with a typo", steps: `    Given a pod "a" on "node1" serving HTTP on port 80` + "\n" + `    Given a ClusterIP Service "s" with IPs "10.152.183.9" on port 80 for pods "a,c"`, line: 5, want: `for pod "c", which no earlier step creates`},
		{name: "endpoint change of an undeclared Service", steps: `    Given a pod "b" on "node1" serving HTTP on port 80` + "\n" + `    When Service "echo" is now backed by pod "b" as "stale"`, line: 5, want: `no Service "echo" declared before this step`},
		{name: "endpoint change to an undeclared pod", steps: `    Given a pod "a" on "node1" serving HTTP on port 80` + "\n" + `    Given a ClusterIP Service "echo" with IPs "10.152.183.9" on port 53 for pod "a" with protocol UDP` + "\n" + `    When Service "echo" is now backed by pod "c" as "stale"`, line: 6, want: `Service "echo" is now for pod "c", which no earlier step creates`},
		{name: "UDP source port out of range", steps: `    Given a pod "a" on "node1" serving HTTP on port 80` + "\n" + `    Given a ClusterIP Service "echo" with IPs "10.152.183.9" on port 53 for pod "a" with protocol UDP` + "\n" + `    When "node1" sends a UDP datagram from port 70000 to Service "echo" over ipv4 as "u"`, line: 6, want: `bad port "70000"`},
		{name: "DNS via an undeclared Service", steps: `    When "node1" looks up A "web.default.svc.cluster.local" via Service "kube-dns" as "d"`, line: 4, want: `no Service "kube-dns" declared before this step`},
		{name: "kube-proxy canary steps in nftables mode", prof: "microk8s:\n  kubernetes: v1.32.2\nkube_proxy:\n  mode: nftables\n", steps: `    When kube-proxy re-syncs on "node1"`, line: 4, want: `runs kube-proxy in nftables mode, which has no canary chain`},
		{name: "firewalld held steps in nftables mode", prof: "microk8s:\n  kubernetes: v1.32.2\nkube_proxy:\n  mode: nftables\n", steps: `    When firewalld is stopped on "node1" before kube-proxy re-syncs`, line: 4, want: `this step needs a profile with kube_proxy.mode iptables`},
		{name: "bad iptables mode", prof: "iptables:\n  mode: nftables\n", line: 3, want: `iptables.mode: "nftables" is not legacy or nft`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			probs := checkDir(t, featureText(tc.steps, tc.col), tc.prof)
			for _, p := range probs {
				if strings.Contains(p.Msg, tc.want) && (tc.line == 0 || p.Line == tc.line) {
					return
				}
			}
			t.Errorf("want a problem at line %d containing %q; got %v", tc.line, tc.want, probs)
		})
	}
}

// TestCheckAcceptsNFTablesWhereSupported: kube-proxy's nftables mode
// passes lab check on the releases that have the nftables Proxier.
func TestCheckAcceptsNFTablesWhereSupported(t *testing.T) {
	for _, v := range []string{"v1.29.15", "v1.32.2"} {
		prof := "microk8s:\n  kubernetes: " + v + "\nkube_proxy:\n  mode: nftables\n"
		steps := `    Given kube-proxy runs on "node1"` + "\n" + `    When firewalld is stopped on "node1"`
		if probs := checkDir(t, featureText(steps, ""), prof); len(probs) > 0 {
			t.Errorf("%s: %v", v, probs)
		}
	}
}

// TestCheckReportsAllProblems: every mistake of a file is reported, not
// only the first.
func TestCheckReportsAllProblems(t *testing.T) {
	steps := strings.Join([]string{
		`    Given the moon is full`,
		`    Given a pod "web" on "node1" serving HTTP on port 0`,
		`    When the sun is out`,
		`    Then observation "x" should be at least abc`,
	}, "\n")
	probs := checkDir(t, featureText(steps, ""), "firewalld:\n  backend: bogus\n")
	lines := map[int]bool{}
	for _, p := range probs {
		lines[p.Line] = true
	}
	for _, l := range []int{4, 5, 6, 7} {
		if !lines[l] {
			t.Errorf("no problem reported at line %d: %v", l, probs)
		}
	}
	if len(probs) != 5 {
		t.Errorf("got %d problems, want 5 (4 steps, 1 profile field): %v", len(probs), probs)
	}
}

// TestEveryParamTyped keeps Params in step with each Pattern's groups.
func TestEveryParamTyped(t *testing.T) {
	c := NewChecker(t.TempDir())
	for i, d := range c.defs {
		if n := c.pats[i].NumSubexp(); n != len(d.Params) {
			t.Errorf("step %q has %d groups but %d Params", d.Pattern, n, len(d.Params))
		}
	}
}

// TestExamplesPassCheck: every documented example binds and type-checks.
func TestExamplesPassCheck(t *testing.T) {
	c := NewChecker(t.TempDir())
	for _, d := range Vocabulary() {
		text := d.Example
		for _, kw := range []string{"Given ", "When ", "Then ", "And ", "But "} {
			text = strings.TrimPrefix(text, kw)
		}
		if msgs, _, _ := c.Step(text); len(msgs) > 0 {
			t.Errorf("example %q: %v", d.Example, msgs)
		}
	}
}

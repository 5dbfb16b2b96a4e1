package microk8s

import (
	"testing"

	"lab/harness/cni"
	"lab/harness/probe"
)

// TestCurlOutcome maps curl's exit statuses and messages (curl 7.88's
// wording) to the probe outcomes the steps record.
func TestCurlOutcome(t *testing.T) {
	for _, c := range []struct {
		code   int
		stderr string
		want   string
	}{
		{28, "curl: (28) Connection timed out after 1001 milliseconds", probe.Timeout},
		{7, "curl: (7) Failed to connect to 198.51.100.10 port 80 after 0 ms: Couldn't connect to server", probe.Refused},
		{7, "curl: (7) Failed to connect to 198.51.100.10 port 80 after 3 ms: No route to host", probe.Unreachable},
		{56, "curl: (56) Recv failure: Connection reset by peer", probe.Reset},
		{6, "curl: (6) Could not resolve host: x", "curl exit 6"},
	} {
		if got := curlOutcome(c.code, c.stderr); got != c.want {
			t.Errorf("curlOutcome(%d, %q) = %q, want %q", c.code, c.stderr, got, c.want)
		}
	}
}

// TestParseConntrack reads conntrack -L lines: a DNATed flow names the
// reply's source, an un-NATed one none.
func TestParseConntrack(t *testing.T) {
	out := `tcp      6 118 SYN_SENT src=198.51.100.11 dst=198.51.100.10 sport=40000 dport=80 [UNREPLIED] src=10.1.84.1 dst=198.51.100.11 sport=80 dport=40000 mark=0 use=1
tcp      6 431999 ESTABLISHED src=198.51.100.11 dst=198.51.100.10 sport=40002 dport=22 src=198.51.100.10 dst=198.51.100.11 sport=22 dport=40002 [ASSURED] mark=0 use=1
udp      17 29 src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 mark=0 use=1
`
	fl := parseConntrack(out)
	if len(fl) != 2 || fl[0].DNATTo != "10.1.84.1" || fl[0].TCPState != "SYN_SENT" || fl[0].Orig != "198.51.100.11:40000 -> 198.51.100.10:80" ||
		fl[1].DNATTo != "" || fl[1].TCPState != "ESTABLISHED" {
		t.Errorf("flows %+v", fl)
	}
	if v, rev, ok := snapList("Name      Version  Rev   Tracking     Publisher   Notes\nmicrok8s  v1.32.2  7731  1.32/stable  canonical** classic\n"); !ok || v != "v1.32.2" || rev != "7731" {
		t.Errorf("snapList: %q %q %v", v, rev, ok)
	}
}

// TestPodManifestGroupsPorts: two hostPorts to one container port, and
// one port over TCP and UDP, make one container serving that port (two
// netexec processes could not both bind it).
func TestPodManifestGroupsPorts(t *testing.T) {
	m := podManifest("p", []cni.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 9090, ContainerPort: 80, Protocol: "tcp"},
		{HostPort: 53, ContainerPort: 53, Protocol: "udp"}, {HostPort: 53, ContainerPort: 53, Protocol: "tcp"}})
	cs := m["spec"].(obj)["containers"].([]obj)
	if len(cs) != 2 || cs[0]["name"] != "http-80" || cs[1]["name"] != "http-53" || len(cs[0]["ports"].([]obj)) != 2 || len(cs[1]["ports"].([]obj)) != 2 ||
		cs[1]["ports"].([]obj)[0]["protocol"] != "UDP" || cs[0]["ports"].([]obj)[1]["hostPort"] != 9090 {
		t.Errorf("containers %v", cs)
	}
	if cs := podManifest("q", nil)["spec"].(obj)["containers"].([]obj); len(cs) != 1 || cs[0]["name"] != "pause" {
		t.Errorf("a pod without ports: %v", cs)
	}
}

package microk8s_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab/harness/cni"
	"lab/harness/dockerprov"
	"lab/harness/execx"
	"lab/harness/kubeproxy"
	"lab/harness/microk8s"
	"lab/harness/node"
	"lab/harness/profile"
	"lab/harness/provider"
	"lab/harness/testenv"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// fakeEnv installs testdata/fake.sh as snap, microk8s, curl and conntrack
// in /snap/bin of every node it boots (the driver's PATH has /snap/bin).
type fakeEnv struct {
	provider.Env
	fake string
}

func (e fakeEnv) AddNode(ctx context.Context, name string) (node.Node, error) {
	n, err := e.Env.AddNode(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := n.CopyIn(ctx, e.fake, "/snap/bin/lab-fake", 0o755); err != nil {
		return nil, err
	}
	_, err = n.Run(ctx, execx.Cmd{Argv: []string{"sh", "-c", "cd /snap/bin && for c in snap microk8s curl conntrack; do ln -s lab-fake $c; done"}})
	return n, err
}

// dockerProvider is the docker provider, skipping the test when no
// engine answers or the default node image is not built.
func dockerProvider(t *testing.T) provider.Provider {
	t.Helper()
	testenv.Root(t)
	p := testenv.Provider(t, dockerprov.New())
	testenv.NodeImage(t, "../../images/recipes", dockerprov.DefaultImage)
	return p
}

// fakeScript is the absolute path of testdata/fake.sh.
func fakeScript(t *testing.T) string {
	t.Helper()
	fake, err := filepath.Abs("testdata/fake.sh")
	if err != nil {
		t.Fatal(err)
	}
	return fake
}

// dockerEnv starts a docker-provider cell whose nodes get the fakes;
// nothing of it may be left when the test ends.
func dockerEnv(t *testing.T) provider.Env {
	t.Helper()
	p := dockerProvider(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	pre := "lab-mk8s-" + hex.EncodeToString(b)
	env, err := p.NewEnv(context.Background(), pre)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Close(context.Background()); err != nil {
			t.Error(err)
		}
		if left, _ := p.Leftovers(context.Background(), pre); len(left) > 0 {
			t.Errorf("left after Close: %v", left)
		}
	})
	return fakeEnv{Env: env, fake: fakeScript(t)}
}

func loadProfile(t *testing.T) *profile.Profile {
	t.Helper()
	dir := t.TempDir()
	body := "driver: microk8s\nmicrok8s: {version: \"1.32.2\", channel: 1.32/stable, revision: 7731}\nvm: {image: \"ubuntu:24.04\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "mk8s.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Load(dir, "mk8s")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// recorded is a file the fake wrote in a node's /var/lib/lab-fake.
func recorded(t *testing.T, n node.Node, file string) string {
	t.Helper()
	s, err := execx.Output(context.Background(), n, "cat", "/var/lib/lab-fake/"+file)
	if err != nil {
		t.Fatalf("the fake's %s in %s: %v", file, n.Name(), err)
	}
	return s
}

// TestDriverAgainstFakeSnap drives a node and a client of real containers
// whose snap, microk8s, curl and conntrack are recorders: the commands the
// driver ran, in order, and the manifests it applied are the assertions;
// iptables-legacy-save and ip neigh are the image's real ones.
func TestDriverAgainstFakeSnap(t *testing.T) {
	env := dockerEnv(t)
	c := microk8s.New(env, loadProfile(t))
	d := c.Driver()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := d.AddNode(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if err := d.AddClient(ctx, "client"); err != nil {
		t.Fatal(err)
	}
	ip, err := d.AddHostPortPod(ctx, "ingress", "node1", []cni.PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 443, ContainerPort: 443, Protocol: "tcp"}})
	if err != nil || ip != netip.MustParseAddr("10.1.84.1") {
		t.Fatalf("AddHostPortPod: %v, %v", ip, err)
	}
	svc := kubeproxy.Service{Namespace: "default", Name: "web", ClusterIP: netip.MustParseAddr("10.152.183.10"), Port: 80, NodePort: 30080,
		ClientIPAffinity: true, Endpoints: []kubeproxy.Endpoint{{IP: ip, Port: 80}}}
	if err := d.RunKubeProxy(ctx, "node1", kubeproxy.Config{ClusterCIDR: netip.MustParsePrefix("10.1.0.0/16")}, []kubeproxy.Service{svc}); err != nil {
		t.Fatal(err)
	}
	if err := d.StopMicroK8s(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if err := d.StartMicroK8s(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if p, _ := d.Pod("ingress"); len(p.Addrs) != 1 || p.Addrs[0] != netip.MustParseAddr("10.1.84.2") {
		t.Errorf("after start the pod's address is %v, want the one kubectl printed after the restart", p.Addrs)
	}
	r, err := d.Runner("node1")
	if err != nil {
		t.Fatal(err)
	}
	save, err := execx.Output(ctx, r, "iptables-legacy-save", "-t", "nat")
	if err != nil || !strings.Contains(save, "*nat") {
		t.Errorf("iptables-legacy-save in the node: %q, %v", save, err)
	}
	pub, _ := d.PublicAddr("node1")
	src, err := d.Source("client")
	if err != nil {
		t.Fatal(err)
	}
	if res := src.HTTP(ctx, "http://"+pub.String()+":80/", time.Second); res.Outcome != "200" {
		t.Errorf("HTTP from the client: %+v", res)
	}
	flows, err := d.Conntrack(ctx, "node1", netip.AddrPortFrom(pub, 80))
	if err != nil || len(flows) != 1 || flows[0].DNATTo != "10.1.84.1" || flows[0].TCPState != "SYN_SENT" || flows[0].Neighbour != "none" {
		t.Errorf("conntrack: %+v, %v", flows, err)
	}
	facts := d.Facts(ctx)
	if facts["node1"]["microk8s"] != "v1.32.2 (snap revision 7731)" || facts["node1"]["kernel"] == "" || facts["client"]["microk8s"] != "" {
		t.Errorf("facts: %v", facts)
	}

	n1, _ := env.Node("node1")
	calls := strings.Split(strings.TrimSpace(recorded(t, n1, "calls")), "\n")
	want := []string{
		"snap install microk8s --classic --channel 1.32/stable --revision 7731",
		"microk8s status --wait-ready --timeout 600",
		"microk8s disable ha-cluster --force",
		"microk8s status --wait-ready --timeout 600",
		"microk8s kubectl apply -f -",
		"microk8s kubectl wait --for=condition=Ready pod/ingress --timeout=600s",
		"microk8s kubectl get pod ingress -o jsonpath={.status.podIPs[*].ip}",
		"microk8s kubectl apply -f -",
		"microk8s stop",
		"microk8s start",
		"microk8s status --wait-ready --timeout 600",
		"microk8s kubectl wait --for=condition=Ready pod/ingress --timeout=600s",
		"microk8s kubectl get pod ingress -o jsonpath={.status.podIPs[*].ip}",
		"conntrack -L -p tcp --orig-dst " + pub.String() + " --orig-port-dst 80",
		"snap list microk8s",
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("commands on node1 (-want +got):\n%s", diff)
	}
	cl, _ := env.Node("client")
	if got := strings.TrimSpace(recorded(t, cl, "calls")); got != "curl -sS -o /dev/null -w %{http_code} --connect-timeout 1.000 --max-time 1.000 http://"+pub.String()+":80/" {
		t.Errorf("commands on the client: %q", got)
	}

	var pod map[string]any
	if err := yaml.Unmarshal([]byte(recorded(t, n1, "apply-1.yaml")), &pod); err != nil {
		t.Fatal(err)
	}
	wantPod := map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "ingress", "namespace": "default", "labels": map[string]any{"app.kubernetes.io/managed-by": "lab", "lab.pod": "ingress"}},
		"spec": map[string]any{"terminationGracePeriodSeconds": 1, "containers": []any{
			map[string]any{"name": "http-80", "image": microk8s.ServerImage, "args": []any{"netexec", "--http-port=80", "--udp-port=80"},
				"ports": []any{map[string]any{"containerPort": 80, "hostPort": 80, "protocol": "TCP"}}},
			map[string]any{"name": "http-443", "image": microk8s.ServerImage, "args": []any{"netexec", "--http-port=443", "--udp-port=443"},
				"ports": []any{map[string]any{"containerPort": 443, "hostPort": 443, "protocol": "TCP"}}},
		}}}
	if diff := cmp.Diff(wantPod, pod); diff != "" {
		t.Errorf("pod manifest (-want +got):\n%s", diff)
	}
	dec := yaml.NewDecoder(strings.NewReader(recorded(t, n1, "apply-2.yaml")))
	var docs []map[string]any
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			break
		}
		docs = append(docs, m)
	}
	// The Service and its EndpointSlice are what the sim's kube-proxy is
	// given (kubeproxy.Objects), as a YAML stream.
	objs, err := kubeproxy.Objects([]kubeproxy.Service{svc})
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ Services, EndpointSlices []map[string]any }
	if err := json.Unmarshal(objs, &o); err != nil {
		t.Fatal(err)
	}
	wantSvc := append(o.Services, o.EndpointSlices...)
	var gotSvc []map[string]any
	for _, d := range docs {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		gotSvc = append(gotSvc, m)
	}
	if diff := cmp.Diff(wantSvc, gotSvc); diff != "" {
		t.Errorf("Service manifests (-want +got):\n%s", diff)
	}
	all, _ := json.Marshal(gotSvc)
	for _, want := range []string{`"kind":"Service"`, `"kind":"EndpointSlice"`, `"clusterIP":"10.152.183.10"`, `"nodePort":30080`, `"addresses":["10.1.84.1"]`, `"sessionAffinity":"ClientIP"`} {
		if !strings.Contains(string(all), want) {
			t.Errorf("Service manifests lack %s: %s", want, all)
		}
	}
	if err := d.RunKubeProxy(ctx, "node1", kubeproxy.Config{}, []kubeproxy.Service{{Name: "x", ClusterIP: netip.MustParseAddr("10.96.0.10"), Port: 80}}); err == nil || !strings.Contains(err.Error(), "outside MicroK8s' Service range 10.152.183.0/24") {
		t.Errorf("a ClusterIP outside the range: %v", err)
	}

	// What the driver cannot do says so; one MicroK8s node per cell.
	if _, err := d.AddIngressPod(ctx, "ing", "node1", []cni.PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "tcp"}}, nil); err == nil || !strings.Contains(err.Error(), "not supported by the microk8s driver") {
		t.Errorf("AddIngressPod: %v", err)
	}
	if err := d.AddNode(ctx, "node2"); err == nil || !strings.Contains(err.Error(), "not supported by the microk8s driver") {
		t.Errorf("a second node: %v", err)
	}
}

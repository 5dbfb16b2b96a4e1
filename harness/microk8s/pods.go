package microk8s

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"lab/harness/cni"
	"lab/harness/driver"
	"lab/harness/kubeproxy"

	"gopkg.in/yaml.v3"
)

// ServerImage is the container image of the pods that serve HTTP: the
// Kubernetes e2e test server (`agnhost netexec`: HTTP on --http-port,
// UDP on --udp-port), one container per port.
const ServerImage = "registry.k8s.io/e2e-test-images/agnhost:2.52"

// ServiceCIDR is MicroK8s' Service range (kube-apiserver's
// --service-cluster-ip-range in the snap): a ClusterIP a step names must
// be in it.
var ServiceCIDR = netip.MustParsePrefix("10.152.183.0/24")

// manifest renders Kubernetes objects as one YAML stream.
func manifest(objs ...any) ([]byte, error) {
	var b strings.Builder
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		out, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		b.Write(out)
	}
	return []byte(b.String()), nil
}

type obj = map[string]any

// podManifest is a Pod serving HTTP and UDP on each container port (one
// agnhost container per distinct port: netexec answers both protocols on
// it), with the hostPorts mapped to it when given.
func podManifest(name string, ports []cni.PortMapping) obj {
	var order []int
	byPort := map[int][]obj{}
	for _, p := range ports {
		if _, seen := byPort[p.ContainerPort]; !seen {
			order = append(order, p.ContainerPort)
		}
		cp := obj{"containerPort": p.ContainerPort, "protocol": "TCP"}
		if p.HostPort != 0 {
			cp["hostPort"] = p.HostPort
		}
		if p.Protocol != "" && !strings.EqualFold(p.Protocol, "tcp") {
			cp["protocol"] = strings.ToUpper(p.Protocol)
		}
		byPort[p.ContainerPort] = append(byPort[p.ContainerPort], cp)
	}
	var containers []obj
	for _, port := range order {
		ps := strconv.Itoa(port)
		containers = append(containers, obj{
			"name":  "http-" + ps,
			"image": ServerImage,
			"args":  []string{"netexec", "--http-port=" + ps, "--udp-port=" + ps},
			"ports": byPort[port],
		})
	}
	if len(containers) == 0 {
		containers = []obj{{"name": "pause", "image": ServerImage, "args": []string{"pause"}}}
	}
	return obj{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": obj{"name": name, "namespace": "default", "labels": obj{"app.kubernetes.io/managed-by": "lab", "lab.pod": name}},
		"spec":     obj{"containers": containers, "terminationGracePeriodSeconds": 1},
	}
}

// AddHostPortPod applies a Pod with hostPorts on the node, waits until
// it is ready and returns its IPv4 address.
func (c *Cluster) AddHostPortPod(ctx context.Context, pod, nodeName string, ports []cni.PortMapping) (netip.Addr, error) {
	p, err := c.addPod(ctx, pod, nodeName, ports)
	if err != nil {
		return netip.Addr{}, err
	}
	a, ok := p.Addr(4)
	if !ok {
		return netip.Addr{}, fmt.Errorf("pod %s has no IPv4 address (%v)", pod, p.Addrs)
	}
	return a, nil
}

// AddRoutedPod applies a Pod serving HTTP on port (0: none) on the node.
func (c *Cluster) AddRoutedPod(ctx context.Context, pod, nodeName string, port int) (driver.Pod, error) {
	var ports []cni.PortMapping
	if port != 0 {
		ports = []cni.PortMapping{{ContainerPort: port, Protocol: "tcp"}}
	}
	return c.addPod(ctx, pod, nodeName, ports)
}

func (c *Cluster) addPod(ctx context.Context, pod, nodeName string, ports []cni.PortMapping) (driver.Pod, error) {
	h, err := c.node(nodeName)
	if err != nil {
		return driver.Pod{}, err
	}
	c.mu.Lock()
	_, dup := c.pods[pod]
	c.mu.Unlock()
	if dup {
		return driver.Pod{}, fmt.Errorf("pod %q already exists", pod)
	}
	m, err := manifest(podManifest(pod, ports))
	if err != nil {
		return driver.Pod{}, err
	}
	if _, err := run(ctx, h, m, "microk8s", "kubectl", "apply", "-f", "-"); err != nil {
		return driver.Pod{}, err
	}
	p := driver.Pod{Name: pod, Node: nodeName}
	if len(ports) > 0 {
		p.Port = ports[0].ContainerPort
	}
	c.mu.Lock()
	c.pods[pod] = p
	c.mu.Unlock()
	return c.readyPod(ctx, h, pod)
}

// readyPod waits until the pod is ready and reads its addresses.
func (c *Cluster) readyPod(ctx context.Context, h *host, pod string) (driver.Pod, error) {
	if _, err := run(ctx, h, nil, "microk8s", "kubectl", "wait", "--for=condition=Ready", "pod/"+pod, "--timeout="+strconv.Itoa(int(ReadyTimeout.Seconds()))+"s"); err != nil {
		return driver.Pod{}, err
	}
	out, err := run(ctx, h, nil, "microk8s", "kubectl", "get", "pod", pod, "-o", "jsonpath={.status.podIPs[*].ip}")
	if err != nil {
		return driver.Pod{}, err
	}
	var addrs []netip.Addr
	for _, f := range strings.Fields(out) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return driver.Pod{}, fmt.Errorf("pod %s: address %q from kubectl: %w", pod, f, err)
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return driver.Pod{}, fmt.Errorf("pod %s is ready without an address (kubectl printed %q)", pod, out)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pods[pod]
	p.Addrs = addrs
	c.pods[pod] = p
	return p, nil
}

// Pod returns a pod by name.
func (c *Cluster) Pod(name string) (driver.Pod, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pods[name]
	return p, ok
}

// PodsOf returns the pods of a node, by name.
func (c *Cluster) PodsOf(nodeName string) ([]driver.Pod, error) {
	if _, err := c.node(nodeName); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []driver.Pod
	for _, p := range c.pods {
		if p.Node == nodeName {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// serviceObjects are the Services and their EndpointSlices exactly as
// the sim's kube-proxy is given them (kubeproxy.Objects: the ClusterIP,
// port and endpoints the step describes, a Service without selector), for
// the snap's own kube-proxy to program.
func serviceObjects(svcs []kubeproxy.Service) ([]any, error) {
	for _, s := range svcs {
		if !ServiceCIDR.Contains(s.ClusterIP) {
			return nil, fmt.Errorf("Service %s/%s: ClusterIP %s is outside MicroK8s' Service range %s", s.Namespace, s.Name, s.ClusterIP, ServiceCIDR)
		}
	}
	data, err := kubeproxy.Objects(svcs)
	if err != nil {
		return nil, err
	}
	var o struct {
		Services       []obj `json:"services"`
		EndpointSlices []obj `json:"endpointSlices"`
	}
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, err
	}
	var out []any
	for _, s := range o.Services {
		out = append(out, s)
	}
	for _, s := range o.EndpointSlices {
		out = append(out, s)
	}
	return out, nil
}

// RunKubeProxy applies the Services: the snap runs its own kube-proxy,
// which programs them (cfg is the snap's to decide: --cluster-cidr is
// MicroK8s' own).
func (c *Cluster) RunKubeProxy(ctx context.Context, nodeName string, cfg kubeproxy.Config, svcs []kubeproxy.Service) error {
	h, err := c.node(nodeName)
	if err != nil {
		return err
	}
	objs, err := serviceObjects(svcs)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return nil
	}
	m, err := manifest(objs...)
	if err != nil {
		return err
	}
	_, err = run(ctx, h, m, "microk8s", "kubectl", "apply", "-f", "-")
	return err
}

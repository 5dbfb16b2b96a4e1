package microk8s

import (
	"context"
	"fmt"
	"net/netip"

	"lab/harness/agent"
	"lab/harness/cni"
	"lab/harness/driver"
	"lab/harness/execx"
	"lab/harness/firewalld"
	"lab/harness/gateway"
	"lab/harness/kubeproxy"
)

// The driver methods below need what the real snap does not expose to
// the lab (a kube-proxy handle, per-pod probes, the sim's ingress, DNS
// and gateway components): each says so.

// AddIngressPod is not supported.
func (c *Cluster) AddIngressPod(context.Context, string, string, []cni.PortMapping, []agent.IngressRoute) (driver.Pod, error) {
	return driver.Pod{}, fmt.Errorf("ingress pods: %w", errUnsupported)
}

// AddDNSPod is not supported.
func (c *Cluster) AddDNSPod(context.Context, string, string, map[string][]netip.Addr) (driver.Pod, error) {
	return driver.Pod{}, fmt.Errorf("DNS pods: %w", errUnsupported)
}

// ForwardResolver is not supported.
func (c *Cluster) ForwardResolver(context.Context, string, netip.AddrPort) error {
	return fmt.Errorf("the node's stub resolver: %w", errUnsupported)
}

// PodCIDR is not supported (MicroK8s' Calico allocates blocks itself).
func (c *Cluster) PodCIDR(string, int) (netip.Prefix, error) {
	return netip.Prefix{}, fmt.Errorf("a node's pod pool: %w", errUnsupported)
}

// IngressLogs: there are no ingress controllers of the lab's.
func (c *Cluster) IngressLogs(context.Context) string { return "" }

// PodRunner is not supported: commands run on hosts only.
func (c *Cluster) PodRunner(pod string) (execx.Runner, error) {
	return nil, fmt.Errorf("commands in pod %s: %w", pod, errUnsupported)
}

// KubeProxy: the snap's kube-proxy is no handle of the lab's.
func (c *Cluster) KubeProxy(string) (driver.KubeProxy, bool) { return nil, false }

// KubeProxyOnce is not supported.
func (c *Cluster) KubeProxyOnce(context.Context, string, kubeproxy.Config, []kubeproxy.Service) (kubeproxy.Outcome, error) {
	return kubeproxy.Outcome{}, fmt.Errorf("one kube-proxy sync: %w (the snap runs kube-proxy itself)", errUnsupported)
}

// Firewalld: the driver does not start firewalld.
func (c *Cluster) Firewalld(string) (*firewalld.Daemon, bool) { return nil, false }

// StopFirewalld is not supported.
func (c *Cluster) StopFirewalld(context.Context, string) error {
	return fmt.Errorf("firewalld: %w", errUnsupported)
}

// StartFirewalld is not supported.
func (c *Cluster) StartFirewalld(context.Context, string) error {
	return fmt.Errorf("firewalld: %w", errUnsupported)
}

// TraceTCP is not supported.
func (c *Cluster) TraceTCP(context.Context, string, netip.Addr, netip.AddrPort) (agent.Trace, error) {
	return agent.Trace{}, fmt.Errorf("nft traces: %w", errUnsupported)
}

// AddGateway is not supported.
func (c *Cluster) AddGateway(context.Context, string, netip.Prefix, []string) (*gateway.Gateway, error) {
	return nil, fmt.Errorf("provider gateways: %w", errUnsupported)
}

// AddInternetHost is not supported.
func (c *Cluster) AddInternetHost(context.Context, string, string, int) (driver.InternetHost, error) {
	return driver.InternetHost{}, fmt.Errorf("internet hosts: %w", errUnsupported)
}

// InternetHost: there are none.
func (c *Cluster) InternetHost(string) (driver.InternetHost, bool) {
	return driver.InternetHost{}, false
}

// Masquerade is not supported (Calico and flannel of the snap write their
// own egress NAT).
func (c *Cluster) Masquerade(context.Context, string, netip.Prefix, []string) (string, error) {
	return "", fmt.Errorf("writing the egress NAT rule: %w", errUnsupported)
}

// StopMicroK8sWithoutSudo: stopping as an unprivileged user (#5005) is
// not supported.
func (c *Cluster) StopMicroK8sWithoutSudo(context.Context, string) (string, error) {
	return "", fmt.Errorf("microk8s stop without sudo: %w", errUnsupported)
}

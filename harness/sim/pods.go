package sim

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"lab/harness/agent"
	"lab/harness/cni"
	"lab/harness/execx"
)

// Pod is one pod with hostPorts on a bridge (flannel) node; its sandbox is
// a network namespace inside the node.
type Pod struct {
	Name        string
	Ports       []cni.PortMapping
	ContainerID string
	IP          netip.Addr
	Generation  int
	ns          string // the sandbox's namespace name inside the node
}

// AddPod creates a pod sandbox, attaches it with CNI ADD (hostPorts through
// portmap) and starts its HTTP servers on the container ports.
func (n *Node) AddPod(ctx context.Context, name string, ports []cni.PortMapping) (*Pod, error) {
	n.mu.Lock()
	for _, p := range n.pods {
		if p.Name == name {
			n.mu.Unlock()
			return nil, fmt.Errorf("pod %q already exists on %s", name, n.Name())
		}
	}
	p := &Pod{Name: name, Ports: ports}
	n.pods = append(n.pods, p)
	n.mu.Unlock()
	return p, n.sandbox(ctx, p)
}

// sandbox creates a new sandbox for p (a new container ID and namespace),
// runs CNI ADD in the node and starts the servers.
func (n *Node) sandbox(ctx context.Context, p *Pod) error {
	if err := n.pushPlugins(ctx); err != nil {
		return err
	}
	p.Generation++
	p.ContainerID = newContainerID()
	p.ns = fmt.Sprintf("p-%s-%d", p.Name, p.Generation)
	var res agent.CNIAddResult
	err := n.Call(ctx, agent.OpCNIAdd, agent.CNIAddArgs{Pod: p.ns, ContainerID: p.ContainerID,
		Conflist: n.conflist, CacheDir: agent.Dir + "/cni-cache", Ports: p.Ports}, &res)
	if err != nil {
		return fmt.Errorf("pod %s on %s: %w", p.Name, n.Name(), err)
	}
	p.IP = res.IP
	return n.serve(ctx, p)
}

func (n *Node) serve(ctx context.Context, p *Pod) error {
	seen := map[int]bool{}
	var ports []int
	for _, pm := range p.Ports {
		if !seen[pm.ContainerPort] {
			seen[pm.ContainerPort] = true
			ports = append(ports, pm.ContainerPort)
		}
	}
	return n.Call(ctx, agent.OpServe, agent.ServeArgs{Pod: p.ns, Ports: ports,
		Ident: fmt.Sprintf("pod %s (%s, sandbox %d)", p.Name, p.IP, p.Generation)}, nil)
}

// Pods returns the node's pods sorted by name.
func (n *Node) Pods() []*Pod {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := append([]*Pod(nil), n.pods...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// StopMicroK8s does what `microk8s stop` does to pods for the profile: 1.31.6 stops
// the containers but leaves sandboxes and rules; 1.32.2 removes the
// containers with ctr (no CNI DEL, so portmap's rules stay); 1.32.3 does the
// same and flushes the chains the fix flushes.
func (n *Node) StopMicroK8s(ctx context.Context) error {
	_, err := n.stopMicroK8s(ctx, false)
	return err
}

// unprivileged returns the command prefix that runs a command as a user
// without root or sudo (nobody), like a user's shell running `microk8s stop`.
func unprivileged() []string {
	return []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"}
}

// StopMicroK8sWithoutSudo does what `microk8s stop` does run by a user
// without sudo (upstream #5005): the same as StopMicroK8s, but the chains
// the release flushes (the #4963 fix: `iptables-legacy -t nat -F
// CNI-HOSTPORT-DNAT || true` in remove_all_containers, before #5033 added
// run_with_sudo) are flushed by an unprivileged process; like the script,
// stop goes on when that fails. It returns the flushes' output.
func (n *Node) StopMicroK8sWithoutSudo(ctx context.Context) (string, error) {
	return n.stopMicroK8s(ctx, true)
}

func (n *Node) stopMicroK8s(ctx context.Context, withoutSudo bool) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return "", fmt.Errorf("microk8s on %s is already stopped", n.Name())
	}
	stop := n.cluster.prof.MicroK8s.Stop
	for _, p := range n.pods {
		op := agent.OpUnserve
		if stop.RemoveContainers {
			op = agent.OpPodDelete
		}
		if err := n.Call(ctx, op, agent.PodArgs{Pod: p.ns}, nil); err != nil {
			return "", fmt.Errorf("microk8s stop on %s: %w", n.Name(), err)
		}
	}
	var out []string
	for _, chain := range stop.FlushChains {
		argv := []string{"iptables", "-t", "nat", "-F", chain}
		if !withoutSudo {
			if _, err := n.Run(ctx, execx.Cmd{Argv: argv}); err != nil {
				return "", fmt.Errorf("microk8s stop on %s: %w", n.Name(), err)
			}
			continue
		}
		res, err := n.Run(ctx, execx.Cmd{Argv: append(unprivileged(), argv...)})
		text := strings.TrimSpace(string(res.Stdout) + string(res.Stderr))
		if err != nil && text == "" {
			text = err.Error()
		}
		out = append(out, fmt.Sprintf("$ %s\n%s", strings.Join(argv, " "), text))
	}
	n.running = false
	return strings.Join(out, "\n"), nil
}

// StartMicroK8s does what `microk8s start` does: kubelet recreates removed sandboxes
// (new container IDs, CNI ADD) or restarts containers in kept ones.
func (n *Node) StartMicroK8s(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running {
		return fmt.Errorf("microk8s on %s is already running", n.Name())
	}
	for _, p := range n.pods {
		var err error
		if n.cluster.prof.MicroK8s.Stop.RemoveContainers {
			err = n.sandbox(ctx, p)
		} else {
			err = n.serve(ctx, p)
		}
		if err != nil {
			return fmt.Errorf("microk8s start on %s: %w", n.Name(), err)
		}
	}
	n.kubeliteForward = n.addKubeliteForward(ctx)
	n.running = true
	return nil
}

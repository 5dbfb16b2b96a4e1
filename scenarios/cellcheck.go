package scenarios

import (
	"fmt"
	"sort"
	"strings"
)

// cellState is what `lab check` knows of a cell's topology from its steps
// so far: which hosts and pods exist and where the pods run. Steps with a
// cell rule (Def.cell) read and extend it, so a cell that cannot work is
// refused before anything boots.
type cellState struct {
	// hosts maps a declared host to its kind (node, calico, client, ...).
	hosts map[string]string
	// pods maps a declared pod to its node; services a Service to its pods.
	pods     map[string]string
	services map[string][]string
	// recorded are the observation names earlier steps record (each also
	// records NAME_SUFFIX variants).
	recorded map[string]bool
}

func newCellState() *cellState {
	return &cellState{hosts: map[string]string{}, pods: map[string]string{}, services: map[string][]string{}, recorded: map[string]bool{}}
}

// addHost is the rule of steps declaring a host (args[0]) of a kind.
func addHost(kind string) func(*cellState, []string) string {
	return func(s *cellState, args []string) string {
		if _, dup := s.hosts[args[0]]; dup {
			return fmt.Sprintf("host %q is declared twice", args[0])
		}
		s.hosts[args[0]] = kind
		return ""
	}
}

// addPod is the rule of steps creating a pod (args[0]) on a node (args[1]).
func addPod(s *cellState, args []string) string {
	pod, node := args[0], args[1]
	if _, ok := s.hosts[node]; !ok {
		return fmt.Sprintf("pod %q is on %q, which no earlier step declares; add `Given a node %q` (or a Calico node) first", pod, node, node)
	}
	if _, dup := s.pods[pod]; dup {
		return fmt.Sprintf("pod %q is declared twice", pod)
	}
	s.pods[pod] = node
	return ""
}

// crossNode refuses IPv6 traffic from a pod to a pod on another node: the
// nodes route each other's IPv4 pod prefixes over the public network
// (IPv4 only), so such a probe would time out and look like a reproduced
// bug.
func (s *cellState) crossNode(from, to, fam string) string {
	fn, ok1 := s.pods[from]
	if k := s.hosts[from]; k == "node" || k == "calico" {
		fn, ok1 = from, true // a node sends from its own namespace
	}
	tn, ok2 := s.pods[to]
	if ok1 && ok2 && fn != tn && fam == "ipv6" {
		return fmt.Sprintf("%q (on %s) to pod %q (on %s) over ipv6: the nodes route each other's pods over IPv4 only; put both pods on one node or use ipv4", from, fn, to, tn)
	}
	return ""
}

// familyOf returns the first ipv4/ipv6 argument (ipv4 when none).
func familyOf(args []string) string {
	for _, a := range args {
		if a == "ipv4" || a == "ipv6" {
			return a
		}
	}
	return "ipv4"
}

// podToPod is the rule of steps sending from args[0] to pod args[1].
func podToPod(s *cellState, args []string) string {
	return s.crossNode(args[0], args[1], familyOf(args))
}

// addService is the rule of Service declarations: args[0] the Service,
// args[idx] its pod (or pod list).
func addService(idx int) func(*cellState, []string) string {
	return func(s *cellState, args []string) string {
		pods, _ := ParseNameList(args[idx])
		for _, p := range pods {
			if _, ok := s.pods[p]; !ok {
				return fmt.Sprintf("Service %q is for pod %q, which no earlier step creates", args[0], p)
			}
		}
		s.services[args[0]] = pods
		return ""
	}
}

// toService is the rule of steps sending from args[from] to the Service
// args[svc].
func toService(from, svc int) func(*cellState, []string) string {
	return func(s *cellState, args []string) string {
		pods, ok := s.services[args[svc]]
		if !ok {
			return fmt.Sprintf("no Service %q declared before this step", args[svc])
		}
		for _, p := range pods {
			if m := s.crossNode(args[from], p, familyOf(args)); m != "" {
				return "Service " + args[svc] + ": " + m
			}
		}
		return ""
	}
}

// known checks that the hosts, pods and Services a step names (by its
// parameters' names) were declared by earlier steps of the cell.
func (s *cellState) known(params []Param, args []string) string {
	for i, p := range params {
		if i >= len(args) || args[i] == "" {
			continue
		}
		var names []string
		if p.Type.Name == NameList.Name {
			names, _ = ParseNameList(args[i])
		} else {
			names = []string{args[i]}
		}
		for _, n := range names {
			_, host := s.hosts[n]
			_, pod := s.pods[n]
			_, svc := s.services[n]
			switch p.Name {
			case "node", "host", "gateway", "nodes":
				if !host {
					return fmt.Sprintf("no host %q declared before this step (declared: %s); declare it with `Given a node %q` (or a Calico node, client, gateway, internet host) first", n, keys(s.hosts), n)
				}
			case "from":
				if !host && !pod {
					return fmt.Sprintf("no host or pod %q declared before this step (hosts: %s; pods: %s)", n, keys(s.hosts), keys(s.pods))
				}
			case "pod", "pods", "from pod", "to pod":
				if !pod {
					return fmt.Sprintf("no pod %q created before this step (pods: %s)", n, keys(s.pods))
				}
			case "service":
				if !svc {
					return fmt.Sprintf("no Service %q declared before this step (Services: %s)", n, keys(s.services))
				}
			}
		}
	}
	return ""
}

// keys lists a map's keys, sorted, or "none".
func keys[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// observations records the observation a measuring step names, and checks
// that an expectation names one recorded before: NAME, or NAME_SUFFIX of a
// step that records several (NAME_80, NAME_exit), or pod_ip_POD and
// internet_ip_HOST.
func (s *cellState) observations(d *Def, args []string) string {
	for i, p := range d.Params {
		if p.Name != "observation" || i >= len(args) || args[i] == "" {
			continue
		}
		name := args[i]
		if d.Subject != "expectations" {
			s.recorded[name] = true
			continue
		}
		if s.isRecorded(name) {
			continue
		}
		return fmt.Sprintf("observation %q is not recorded by any earlier step (recorded so far: %s); check its name, or measure it first", name, keys(s.recorded))
	}
	return ""
}

func (s *cellState) isRecorded(name string) bool {
	if s.recorded[name] {
		return true
	}
	for r := range s.recorded {
		if strings.HasPrefix(name, r+"_") {
			return true
		}
	}
	if pod, ok := strings.CutPrefix(name, "pod_ip_"); ok {
		_, known := s.pods[pod]
		return known
	}
	if host, ok := strings.CutPrefix(name, "internet_ip_"); ok {
		return s.hosts[host] == "internet"
	}
	return false
}

// addIngress is the rule of an ingress pod: a pod (args[0] on args[1])
// whose routes (args[3]) name Services and pods declared before it.
func addIngress(s *cellState, args []string) string {
	routes, _ := ParseRoutes(args[3])
	for _, r := range routes {
		kind, name, _ := strings.Cut(r.Upstream, ":")
		if _, ok := s.services[name]; kind == "service" && !ok {
			return fmt.Sprintf("route %s: no Service %q declared before this step", r.Path, name)
		}
		if _, ok := s.pods[name]; kind == "pod" && !ok {
			return fmt.Sprintf("route %s: no pod %q created before this step", r.Path, name)
		}
	}
	return addPod(s, args)
}

// addIngressHostPorts is addIngress for an ingress published on hostPorts
// (args[2]): its controller serves TCP only.
func addIngressHostPorts(s *cellState, args []string) string {
	ports, _ := ParsePorts(args[2])
	for _, p := range ports {
		if p.Protocol != "tcp" {
			return fmt.Sprintf("ingress %q: hostPort %d/%s: the ingress controller serves TCP only", args[0], p.HostPort, p.Protocol)
		}
	}
	return addIngress(s, args)
}

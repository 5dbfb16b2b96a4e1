package scenarios

import (
	"fmt"

	"lab/harness/kubeproxy"
)

// backends parses a Service's pod list and checks each pod exists and
// serves a port.
func (w *World) backends(service, list string) ([]string, error) {
	pods, err := ParseNameList(list)
	if err != nil {
		return nil, fmt.Errorf("service %s: pods: %w", service, err)
	}
	for _, pod := range pods {
		if _, ok := w.D.Pod(pod); !ok {
			return nil, fmt.Errorf("service %s: no pod %q; add `Given a pod %q on \"NODE\" serving HTTP on port N` first", service, pod, pod)
		}
		if w.podServes(pod) == 0 {
			return nil, fmt.Errorf("service %s: pod %q serves nothing", service, pod)
		}
	}
	return pods, nil
}

// endpoints are a Service's endpoints of the family: each of its pods'
// address and port, as an EndpointSlice lists them.
func (w *World) endpoints(s *service, fam int) []kubeproxy.Endpoint {
	var out []kubeproxy.Endpoint
	for _, name := range s.pods {
		if p, ok := w.D.Pod(name); ok && w.podServes(name) > 0 {
			if a, ok := p.Addr(fam); ok {
				out = append(out, kubeproxy.Endpoint{IP: a, Port: w.podServes(name)})
			}
		}
	}
	return out
}

// podServes is the port a pod serves: the HTTP (and UDP echo) port it was
// created with, 53 for a DNS server pod, 0 for none.
func (w *World) podServes(pod string) int {
	w.mu.Lock()
	dns := w.dnsPods[pod]
	w.mu.Unlock()
	if dns {
		return DNSPort
	}
	p, _ := w.D.Pod(pod)
	return p.Port
}

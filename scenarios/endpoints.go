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
		p, ok := w.D.Pod(pod)
		if !ok {
			return nil, fmt.Errorf("service %s: no pod %q; add `Given a pod %q on \"NODE\" serving HTTP on port N` first", service, pod, pod)
		}
		if p.Port == 0 {
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
		if p, ok := w.D.Pod(name); ok && p.Port > 0 {
			if a, ok := p.Addr(fam); ok {
				out = append(out, kubeproxy.Endpoint{IP: a, Port: p.Port})
			}
		}
	}
	return out
}

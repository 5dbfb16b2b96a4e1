package scenarios

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

func init() {
	register(Def{Subject: "services", Pattern: `^"([^"]+)" requests HTTP ([^ "]+) times from Service "([^"]+)" over (ipv4|ipv6) as "([^"]+)"$`,
		Params:  []Param{P("from", Name), P("count", Count), P("service", Name), P("family", Family), P("observation", Name)},
		Doc:     "Sends N HTTP GETs one after another, each on a fresh connection with a 1 s timeout, from a pod (or a node or client) to the Service's ClusterIP of the family, and records NAME_ok (how many answered 200), NAME_backends (how many of the Service's pods answered) and NAME_POD for each of its pods (how many requests it answered). Shows how kube-proxy spreads connections over several endpoints (or pins them, with sessionAffinity ClientIP).",
		Example: `When "client" requests HTTP 20 times from Service "web" over ipv4 as "spread"`,
		cell:    toService(0, 2),
		bind:    func(w *World) any { return w.requestSpread }})
}

func (w *World) requestSpread(ctx context.Context, from, count, name, fam, obs string) error {
	n, err := ParseCount(count)
	if err != nil {
		return err
	}
	f, err := ParseFamily(fam)
	if err != nil {
		return err
	}
	s, err := w.service(name)
	if err != nil {
		return err
	}
	ip, ok := s.ip(f)
	if !ok {
		return fmt.Errorf("service %q has no %s ClusterIP", name, fam)
	}
	src, err := w.D.Source(from)
	if err != nil {
		return err
	}
	url := "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(s.port)) + "/"
	per := map[string]int{}
	outcomes := map[string]int{}
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res := src.HTTP(ctx, url, ProbeTimeout)
		outcomes[res.Outcome]++
		if res.Outcome == "200" {
			// The pods' servers answer "pod NAME (ADDRESSES) port ...".
			if f := strings.Fields(strings.TrimPrefix(res.Detail, "pod ")); len(f) > 0 {
				per[f[0]]++
			}
		}
	}
	backends := 0
	var ev strings.Builder
	fmt.Fprintf(&ev, "%d x GET %s (Service %s) from %s, fresh connections, %s timeout each\n", n, url, name, from, ProbeTimeout)
	for _, pod := range s.pods {
		if per[pod] > 0 {
			backends++
		}
		w.Observe(obs+"_"+pod, per[pod])
		fmt.Fprintf(&ev, "  pod %-12s answered %d\n", pod, per[pod])
	}
	var kinds []string
	for k := range outcomes {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&ev, "  outcome %-8s %d\n", k, outcomes[k])
	}
	w.Observe(obs+"_ok", outcomes["200"])
	w.Observe(obs+"_backends", backends)
	w.Evidence(obs+": requests to Service "+name, ev.String())
	return nil
}

package kubeproxy

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestObjects(t *testing.T) {
	svcs := []Service{
		{Namespace: "default", Name: "web", PortName: "http", ClusterIP: netip.MustParseAddr("fd98::10"), Port: 80,
			Endpoints: []Endpoint{{IP: netip.MustParseAddr("fd01::1"), Port: 8080}}, ClientIPAffinity: true},
		{Namespace: "default", Name: "ingress", PortName: "http", ClusterIP: netip.MustParseAddr("10.152.183.40"), Port: 80, NodePort: 30080},
	}
	b, err := Objects(svcs)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Services []struct {
			Metadata struct{ Name, Namespace string }
			Spec     struct {
				Type                  string
				ClusterIPs            []string
				IPFamilies            []string
				SessionAffinity       string
				SessionAffinityConfig struct{ ClientIP struct{ TimeoutSeconds int } }
				Ports                 []struct {
					Name           string
					Port, NodePort int
					Protocol       string
				}
			}
		}
		EndpointSlices []struct {
			Metadata    struct{ Labels map[string]string }
			AddressType string
			Endpoints   []struct {
				Addresses  []string
				Conditions struct{ Ready bool }
			}
			Ports []struct{ Port int }
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Services) != 2 || len(got.EndpointSlices) != 2 {
		t.Fatalf("objects:\n%s", b)
	}
	web, in := got.Services[0].Spec, got.Services[1].Spec
	if diff := cmp.Diff([]string{"fd98::10", "IPv6", "ClientIP"}, []string{web.ClusterIPs[0], web.IPFamilies[0], web.SessionAffinity}); diff != "" {
		t.Error(diff)
	}
	if web.SessionAffinityConfig.ClientIP.TimeoutSeconds != 10800 || in.Type != "NodePort" || in.Ports[0].NodePort != 30080 || in.Ports[0].Protocol != "TCP" {
		t.Errorf("specs: %+v %+v", web, in)
	}
	es := got.EndpointSlices[0]
	if es.Metadata.Labels["kubernetes.io/service-name"] != "web" || es.AddressType != "IPv6" || es.Endpoints[0].Addresses[0] != "fd01::1" || !es.Endpoints[0].Conditions.Ready || es.Ports[0].Port != 8080 {
		t.Errorf("slice: %+v", es)
	}
	if len(got.EndpointSlices[1].Endpoints) != 0 {
		t.Errorf("a Service without endpoints got some: %+v", got.EndpointSlices[1])
	}
}

func TestModuleDir(t *testing.T) {
	if _, err := ModuleDir("../..", "v1.32.2"); err != nil {
		t.Error(err)
	}
	if _, err := ModuleDir("../..", "v1.29.15"); err != nil {
		t.Error(err)
	}
	for _, v := range []string{"v1.32.3", "v1.30.1", "1.32"} {
		if _, err := ModuleDir("../..", v); err == nil {
			t.Errorf("ModuleDir(%s): no error", v)
		}
	}
}

func TestParseSyncLine(t *testing.T) {
	l, err := ParseSyncLine([]byte(`{"family":"IPv6","sync":2,"ok":false,"error":"exit status 2: Warning: Extension MARK revision 0 not supported"}`))
	if err != nil || l.OK || l.Sync != 2 || !strings.Contains(l.Error, "MARK") {
		t.Errorf("%+v %v", l, err)
	}
	if _, err := ParseSyncLine([]byte("I1121 klog line")); err == nil {
		t.Error("a klog line parsed as a sync line")
	}
}

func TestVersionsAreTheModules(t *testing.T) {
	got := Versions("../..")
	if len(got) < 2 || !slices.Contains(got, "v1.29.15") || !slices.Contains(got, "v1.32.2") {
		t.Errorf("Versions = %v; want the modules' releases v1.29.15 and v1.32.2", got)
	}
	for _, v := range got {
		if _, err := ModuleDir("../..", v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}

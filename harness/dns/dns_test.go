package dns

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestServeForwardLookup: a server answers A and AAAA for a Service name
// and NXDOMAIN otherwise, directly and through a forwarding stub.
func TestServeForwardLookup(t *testing.T) {
	srv, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go Serve(srv, map[string][]netip.Addr{"web.default.svc.cluster.local": {netip.MustParseAddr("10.152.183.10"), netip.MustParseAddr("fd98::10")}})
	stub, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stub.Close()
	go Forward(stub, srv.LocalAddr().String(), time.Second)
	ctx := context.Background()
	for _, server := range []string{srv.LocalAddr().String(), stub.LocalAddr().String()} {
		for _, tc := range []struct {
			name string
			typ  uint16
			want string
		}{
			{"Web.default.svc.cluster.local.", TypeA, "10.152.183.10"},
			{"web.default.svc.cluster.local", TypeAAAA, "fd98::10"},
			{"nope.default.svc.cluster.local", TypeA, NXDomain},
		} {
			if got := Lookup(ctx, nil, server, tc.name, tc.typ, time.Second).String(); got != tc.want {
				t.Errorf("%s %s via %s = %s, want %s", tc.name, map[uint16]string{TypeA: "A", TypeAAAA: "AAAA"}[tc.typ], server, got, tc.want)
			}
		}
	}
	dead, _ := net.ListenPacket("udp", "127.0.0.1:0")
	addr := dead.LocalAddr().String()
	dead.Close()
	if got := Lookup(ctx, nil, addr, "web", TypeA, time.Second).Outcome; got != Refused {
		t.Errorf("lookup at a closed port: %s, want refused", got)
	}
}

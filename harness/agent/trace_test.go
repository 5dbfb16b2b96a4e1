package agent

import (
	"strings"
	"testing"
)

func TestTraceVerdict(t *testing.T) {
	out := `trace id 0a779865 inet lab_trace pre packet: iif "cali1" ip saddr 10.1.0.2 ip daddr 10.1.0.1 tcp dport 8080
trace id 0a779865 inet lab_trace pre rule ip saddr 10.1.0.2 ip daddr 10.1.0.1 tcp dport 8080 tcp flags syn / syn,ack meta nftrace set 1 (verdict continue)
trace id 0a779865 inet lab_trace pre policy accept
trace id 11111111 inet lab_trace pre packet: iif "cali1" ip saddr 10.1.0.2
trace id 0a779865 ip filter FORWARD rule  counter packets 3 bytes 180 jump KUBE-SERVICES (verdict jump KUBE-SERVICES)
trace id 0a779865 inet firewalld filter_FWD_public rule jump filter_FWD_public_allow (verdict jump filter_FWD_public_allow)
trace id 0a779865 inet firewalld filter_FWD_public rule reject with icmpx admin-prohibited (verdict drop)
`
	lines := firstTrace(out)
	if len(lines) != 6 {
		t.Fatalf("firstTrace kept %d lines, want the 6 of the first id:\n%q", len(lines), lines)
	}
	if v := verdict(lines); v != "inet firewalld filter_FWD_public: reject with icmpx admin-prohibited" {
		t.Errorf("verdict = %q", v)
	}
	if v := verdict(lines[:5]); v != "" {
		t.Errorf("verdict of an accepted packet = %q, want none", v)
	}
	if v := verdict([]string{"trace id 1 ip filter FORWARD policy drop"}); v != "ip filter FORWARD: policy drop" {
		t.Errorf("policy drop verdict = %q", v)
	}
}

// TestTraceComplete tells a trace cut off mid-path from one that ended: a
// reader that took the first lines it saw would report "none" for a SYN a
// later rule rejected.
func TestTraceComplete(t *testing.T) {
	partial := []string{
		`trace id 0a779865 inet lab_trace pre packet: iif "cali1" ip saddr 10.1.0.2 ip daddr 10.1.0.1 tcp dport 8080`,
		`trace id 0a779865 inet lab_trace pre policy accept`,
		`trace id 0a779865 ip filter FORWARD rule  counter packets 3 bytes 180 jump KUBE-SERVICES (verdict jump KUBE-SERVICES)`,
	}
	if complete(partial) {
		t.Error("a trace that stopped in FORWARD's jumps is complete")
	}
	rejected := append(append([]string(nil), partial...), `trace id 0a779865 inet firewalld filter_FWD_public rule reject with icmpx admin-prohibited (verdict drop)`)
	if !complete(rejected) {
		t.Error("a trace ending in a reject is not complete")
	}
	delivered := append(append([]string(nil), partial...), `trace id 0a779865 ip nat POSTROUTING policy accept`)
	if !complete(delivered) {
		t.Error("a trace accepted in POSTROUTING is not complete")
	}
}

// A sentinel datagram's trace, printed before or among the SYN's, is not
// the SYN's trace, and is what tells the reader the SYN's trace is whole.
func TestTraceSkipsSentinel(t *testing.T) {
	out := `trace id aaaa0001 inet lab_trace pre packet: iif "cali1" ip saddr 10.1.0.2 ip daddr 10.1.0.1 udp sport 40000 udp dport 9 udp length 26
trace id 0a779865 inet lab_trace pre packet: iif "cali1" ip saddr 10.1.0.2 ip daddr 10.1.0.1 tcp sport 5000 tcp dport 8080
trace id aaaa0001 inet lab_trace pre policy accept
trace id 0a779865 inet lab_trace pre policy accept
trace id bbbb0002 inet lab_trace pre packet: iif "cali1" ip saddr 10.1.0.2 ip daddr 10.1.0.1 udp sport 40001 udp dport 9
`
	if ids := sentinelIDs(out); len(ids) != 2 || !ids["aaaa0001"] || !ids["bbbb0002"] {
		t.Errorf("sentinelIDs = %v, want aaaa0001 and bbbb0002", ids)
	}
	lines := firstTrace(out)
	if len(lines) != 2 || !strings.Contains(lines[0], "0a779865") {
		t.Errorf("firstTrace = %q, want the SYN's 2 lines", lines)
	}
	if ids := sentinelIDs(`trace id cccc0003 inet lab_trace pre packet: iif "x" udp sport 1 udp dport 90 udp length 8`); len(ids) != 0 {
		t.Errorf("port 90 taken for the sentinel: %v", ids)
	}
}

package scenarios

import (
	"context"
	"errors"
	"strings"
	"testing"

	"lab/harness/execx"

	"github.com/google/go-cmp/cmp"
)

// tablesNode answers the commands forwardPolicies runs from fixed tables:
// the legacy table list, `nft list table`, and each variant's save.
type tablesNode struct {
	legacy, nft string // iptables-save -t filter output; "" = no such table
	ran         []string
}

func (n *tablesNode) Run(_ context.Context, c execx.Cmd) (execx.Result, error) {
	cmd := strings.Join(c.Argv, " ")
	n.ran = append(n.ran, cmd)
	fail := errors.New("exit status 1")
	switch {
	case strings.HasPrefix(cmd, "grep -qx filter"):
		if n.legacy == "" {
			return execx.Result{}, fail
		}
	case strings.HasPrefix(cmd, "nft list table"):
		if n.nft == "" {
			return execx.Result{}, fail
		}
	case strings.HasPrefix(cmd, "iptables-legacy-save"):
		return execx.Result{Stdout: []byte(n.legacy)}, nil
	case strings.HasPrefix(cmd, "iptables-nft-save"):
		return execx.Result{Stdout: []byte(n.nft)}, nil
	default:
		return execx.Result{}, errors.New("unexpected " + cmd)
	}
	return execx.Result{}, nil
}

func filterDump(forward string) string {
	return "*filter\n:INPUT ACCEPT [3:180]\n" + forward + "\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
}

// TestForwardPolicies: each variant's FORWARD policy and counter are read
// only from tables that exist (reading creates none), and parsed from the
// chain header of the save.
func TestForwardPolicies(t *testing.T) {
	n := &tablesNode{nft: filterDump(":FORWARD DROP [12:720]")}
	got, err := forwardPolicies(context.Background(), n, 4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]forwardPolicy{{variant: "nft", policy: "DROP", packets: 12}}, got, cmp.AllowUnexported(forwardPolicy{})); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
	for _, c := range n.ran {
		if strings.HasPrefix(c, "iptables-legacy-save") {
			t.Errorf("read the legacy table, which the kernel does not list: %v", n.ran)
		}
	}
	if _, ok := parseForwardPolicy(filterDump(":FORWARD ACCEPT [x:0]")); ok {
		t.Error("a counter that is not a number was parsed")
	}
}

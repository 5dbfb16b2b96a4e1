package felix

import (
	"strings"
	"testing"
)

// TestMasqueradeOptions: Felix's MASQUERADE fragment with and without a
// natPortRange (felix/iptables/actions.go MasqAction.ToFragment).
func TestMasqueradeOptions(t *testing.T) {
	for in, want := range map[string]string{
		"":            "--random-fully",
		"32768-65535": "--to-ports 32768-65535 --random-fully",
	} {
		if got := strings.Join(MasqueradeOptions(in), " "); got != want {
			t.Errorf("MasqueradeOptions(%q) = %q, want %q", in, got, want)
		}
	}
}

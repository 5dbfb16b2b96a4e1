package driver

import (
	"fmt"
	"net/netip"
	"strings"
)

// BlockBits4 and BlockBits6 are the sizes of Calico's per-node IPAM blocks
// (/26 and /122).
const BlockBits4, BlockBits6 = 26, 122

// ParsePools parses a comma list of pod pools ("10.1.0.0/16,fd01::/64"),
// at most one per family.
func ParsePools(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	seen := map[bool]bool{}
	for _, f := range strings.Split(s, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("pod CIDRs %q: %w", s, err)
		}
		p = p.Masked()
		max := BlockBits4
		if p.Addr().Is6() {
			max = BlockBits6
		}
		if p.Bits() > max {
			return nil, fmt.Errorf("pod CIDR %s is smaller than one Calico block (/%d)", p, max)
		}
		if seen[p.Addr().Is4()] {
			return nil, fmt.Errorf("pod CIDRs %q: more than one pool of the same family", s)
		}
		seen[p.Addr().Is4()] = true
		out = append(out, p)
	}
	return out, nil
}


// Package dns is a small real DNS server, stub forwarder and client over
// UDP (RFC 1035 messages, A and AAAA): the cluster DNS a pod runs, answering
// for Service names, the node-local resolver (like systemd-resolved's
// 127.0.0.53) forwarding to it, and the lookups probes make. It speaks the
// wire format itself, so lookups fail the way real ones do: a timeout, a
// refused port, NXDOMAIN.
package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Record types and response codes the package uses.
const (
	TypeA    uint16 = 1
	TypeAAAA uint16 = 28
	classIN  uint16 = 1

	RcodeOK       = 0
	RcodeServFail = 2
	RcodeNXDomain = 3
)

// Canonical returns a name in lower case without its trailing dot.
func Canonical(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// Query builds a query for name and qtype with recursion desired.
func Query(id uint16, name string, qtype uint16) ([]byte, error) {
	b := make([]byte, 12, 64)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], 0x0100) // RD
	binary.BigEndian.PutUint16(b[4:], 1)
	q, err := question(name, qtype)
	if err != nil {
		return nil, err
	}
	return append(b, q...), nil
}

func question(name string, qtype uint16) ([]byte, error) {
	var b []byte
	for _, l := range strings.Split(Canonical(name), ".") {
		if l == "" || len(l) > 63 {
			return nil, fmt.Errorf("dns: bad name %q", name)
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, qtype), classIN), nil
}

// readName reads a (possibly compressed) name at off and returns it and
// the offset after it in the message.
func readName(m []byte, off int) (string, int, error) {
	var labels []string
	end, jumps := -1, 0
	for {
		if off >= len(m) {
			return "", 0, errors.New("dns: truncated name")
		}
		l := int(m[off])
		switch {
		case l == 0:
			if end < 0 {
				end = off + 1
			}
			return strings.Join(labels, "."), end, nil
		case l&0xC0 == 0xC0:
			if off+1 >= len(m) || jumps > 10 {
				return "", 0, errors.New("dns: bad name pointer")
			}
			if end < 0 {
				end = off + 2
			}
			off = int(binary.BigEndian.Uint16(m[off:]) & 0x3FFF)
			jumps++
		default:
			if off+1+l > len(m) {
				return "", 0, errors.New("dns: truncated label")
			}
			labels = append(labels, string(m[off+1:off+1+l]))
			off += 1 + l
		}
	}
}

// Parsed is a parsed message: its header fields, question and answers.
type Parsed struct {
	ID       uint16
	Response bool
	Rcode    int
	Name     string
	Type     uint16
	// Addrs are the A and AAAA answers.
	Addrs []netip.Addr
}

// Parse parses a query or response with one question.
func Parse(m []byte) (Parsed, error) {
	if len(m) < 12 {
		return Parsed{}, errors.New("dns: short message")
	}
	p := Parsed{ID: binary.BigEndian.Uint16(m), Response: m[2]&0x80 != 0, Rcode: int(m[3] & 0x0F)}
	if binary.BigEndian.Uint16(m[4:]) != 1 {
		return p, errors.New("dns: want exactly one question")
	}
	an := int(binary.BigEndian.Uint16(m[6:]))
	name, off, err := readName(m, 12)
	if err != nil || off+4 > len(m) {
		return p, errors.New("dns: bad question")
	}
	p.Name, p.Type = Canonical(name), binary.BigEndian.Uint16(m[off:])
	off += 4
	for i := 0; i < an; i++ {
		_, o, err := readName(m, off)
		if err != nil || o+10 > len(m) {
			return p, errors.New("dns: bad answer")
		}
		typ, rdlen := binary.BigEndian.Uint16(m[o:]), int(binary.BigEndian.Uint16(m[o+8:]))
		o += 10
		if o+rdlen > len(m) {
			return p, errors.New("dns: truncated answer")
		}
		if a, ok := netip.AddrFromSlice(m[o : o+rdlen]); ok && (typ == TypeA || typ == TypeAAAA) {
			p.Addrs = append(p.Addrs, a)
		}
		off = o + rdlen
	}
	return p, nil
}

// Answer builds the response to query q: rcode, and addrs of q's type
// (A: IPv4, AAAA: IPv6) as answers with a 30 s TTL.
func Answer(q Parsed, rcode int, addrs []netip.Addr) ([]byte, error) {
	qs, err := question(q.Name, q.Type)
	if err != nil {
		return nil, err
	}
	var ans []byte
	n := 0
	for _, a := range addrs {
		if (q.Type == TypeA) != a.Is4() || (q.Type != TypeA && q.Type != TypeAAAA) {
			continue
		}
		ans = binary.BigEndian.AppendUint16(ans, 0xC00C) // the question's name
		ans = binary.BigEndian.AppendUint16(ans, q.Type)
		ans = binary.BigEndian.AppendUint16(ans, classIN)
		ans = binary.BigEndian.AppendUint32(ans, 30)
		ans = binary.BigEndian.AppendUint16(ans, uint16(a.BitLen()/8))
		ans = append(ans, a.AsSlice()...)
		n++
	}
	h := make([]byte, 12)
	binary.BigEndian.PutUint16(h[0:], q.ID)
	binary.BigEndian.PutUint16(h[2:], 0x8580|uint16(rcode)) // QR, AA, RD, RA
	binary.BigEndian.PutUint16(h[4:], 1)
	binary.BigEndian.PutUint16(h[6:], uint16(n))
	return append(append(h, qs...), ans...), nil
}

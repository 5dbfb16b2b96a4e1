package limaprov

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"lab/harness/execx"
	"lab/harness/node"
)

// vmNode is a node of a cell: a whole VM lent to the cell. Commands run as
// root in the VM (ssh through Lima's configuration as the lima user, then
// sudo), each marked with the cell so the reset between cells can end
// whatever the cell left running.
type vmNode struct {
	name string
	cell string
	vm   *vm
	// booted says the VM was booted for this node's cell (not reused).
	booted bool
}

func (n *vmNode) Name() string { return n.name }

// Run runs c as root in the VM with c's environment.
func (n *vmNode) Run(ctx context.Context, c execx.Cmd) (execx.Result, error) {
	res, err := execx.Host{}.Run(ctx, n.vm.ssh(c, n.cell))
	if ee, ok := err.(*execx.Error); ok {
		ee.Argv = c.Argv // name the command the caller ran, not ssh
	}
	return res, err
}

// Start starts c in the VM with its standard input and output piped
// through SSH.
func (n *vmNode) Start(ctx context.Context, c execx.Cmd, stderr io.Writer) (node.Stream, error) {
	return execx.StartPipe(ctx, n.vm.ssh(c, n.cell), stderr)
}

// CopyIn streams src into the VM over SSH (one round trip; limactl copy
// would land as the lima user and need a second command to move it).
func (n *vmNode) CopyIn(ctx context.Context, src, dst string, mode os.FileMode) error {
	if !filepath.IsAbs(dst) {
		return fmt.Errorf("copy into %s: destination %q is not absolute", n.name, dst)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err)
	}
	script := `mkdir -p "$(dirname "$1")" && cat > "$1.lab-tmp" && chmod "$2" "$1.lab-tmp" && mv -f "$1.lab-tmp" "$1"`
	c := execx.Cmd{Argv: []string{"/bin/sh", "-c", script, "sh", dst, strconv.FormatUint(uint64(mode.Perm()), 8)}, Stdin: data}
	if _, err := (execx.Host{}).Run(ctx, n.vm.ssh(c, "")); err != nil {
		return fmt.Errorf("copy %s into %s:%s: %w", src, n.name, dst, err)
	}
	return nil
}

// connectScript joins the VM to a cell network: a bridge per network in the
// VM (lbr0, lbr1, ...) and a veth pair, the node's end named as the cell
// asks (eth0 is free: Lima's own NIC is lima0 in the lab's VM images).
const connectScript = `set -e
br=$1 ifname=$2 peer=$3 addr=$4
ip link show "$br" >/dev/null 2>&1 || { ip link add "$br" type bridge; ip link set "$br" up; }
ip link add "$ifname" type veth peer name "$peer"
ip link set "$peer" master "$br" up
ip addr add "$addr" dev "$ifname"
ip link set "$ifname" up`

// connect attaches the node to network number idx of its cell.
func (n *vmNode) connect(ctx context.Context, idx, link int, ifname string, addr netip.Prefix) error {
	_, err := n.vm.script(ctx, connectScript, fmt.Sprintf("lbr%d", idx), ifname, fmt.Sprintf("lbp%d", link), addr.String())
	if err != nil {
		return fmt.Errorf("connect %s: %w", n.name, err)
	}
	return nil
}

// resetScript returns a VM to the state it booted in, between cells: it
// kills every process a cell started (marked with CellEnv), deletes network
// namespaces and every link but lo and lima0, flushes iptables-legacy
// (one restore of empty tables per family) and nftables (which holds
// iptables-nft's tables), puts the forwarding sysctls back, removes the
// lab's files and puts hidden kernel modules back.
const resetScript = `for i in 1 2 3; do
	pids=$(grep -lz '^` + CellEnv + `=' /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)
	[ -n "$pids" ] && kill -9 $pids 2>/dev/null
done
ip -all netns delete 2>/dev/null
for l in $(ls /sys/class/net); do case $l in lo|lima0) ;; *) ip link del "$l" 2>/dev/null ;; esac; done
empty='*filter
:INPUT ACCEPT
:FORWARD ACCEPT
:OUTPUT ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT
:INPUT ACCEPT
:OUTPUT ACCEPT
:POSTROUTING ACCEPT
COMMIT
*mangle
:PREROUTING ACCEPT
:INPUT ACCEPT
:FORWARD ACCEPT
:OUTPUT ACCEPT
:POSTROUTING ACCEPT
COMMIT
*raw
:PREROUTING ACCEPT
:OUTPUT ACCEPT
COMMIT'
for x in iptables-legacy-restore ip6tables-legacy-restore; do echo "$empty" | $x 2>/dev/null; done
nft flush ruleset 2>/dev/null
` + sysctlBaseline + `
rm -rf /run/lab /run/netns /var/lib/cni /etc/cni
` + restoreScript

// reset runs resetScript.
func (v *vm) reset(ctx context.Context) error {
	if _, err := v.script(ctx, resetScript); err != nil {
		return fmt.Errorf("reset VM %s: %w", v.name, err)
	}
	return nil
}

package iptables

import (
	"fmt"
	"os"
	"path/filepath"
)

// Commands are the iptables front-ends a component may call by plain name.
var Commands = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

// Shim fills dir with symlinks named like the plain commands (iptables,
// iptables-save, ...) pointing at the given variant's binaries
// (iptables-legacy, iptables-nft-save, ...). Put dir first in PATH and a
// component that runs `iptables` gets that variant, as a snap that bundles
// iptables-legacy would. The binaries dispatch on their own name.
func Shim(dir, mode string) error {
	if mode != "legacy" && mode != "nft" {
		return fmt.Errorf("iptables mode %q is not legacy or nft", mode)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range Commands {
		target, err := variant(c, mode)
		if err != nil {
			return err
		}
		link := filepath.Join(dir, c)
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("iptables shim: %w", err)
		}
	}
	return nil
}

// Binary returns the variant's binary for a plain command name, e.g.
// ("iptables-save", "legacy") -> "iptables-legacy-save".
func Binary(cmd, mode string) string {
	for _, base := range []string{"ip6tables", "iptables"} {
		if len(cmd) >= len(base) && cmd[:len(base)] == base {
			return base + "-" + mode + cmd[len(base):]
		}
	}
	return cmd
}

func variant(cmd, mode string) (string, error) {
	name := Binary(cmd, mode)
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found; run `apt-get install iptables` (or `make deps`)", name)
}

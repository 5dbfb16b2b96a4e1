package image

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"lab/harness/execx"
)

// Tool is one tool's version, measured inside the rootfs.
type Tool struct {
	// Command is what ran (in the chroot).
	Command string `json:"command"`
	// Output is the last line it printed (stdout, else stderr).
	Output string `json:"output,omitempty"`
	// Version is the version number read off Output ("1.8.7").
	Version string `json:"version,omitempty"`
	// Note says how it was measured when that is not obvious, or why there
	// is no version ("not installed").
	Note string `json:"note,omitempty"`
}

// ToolSpec names a tool and the command that prints its version.
type ToolSpec struct {
	Name string
	Argv []string
}

// Tools are the measured tools, in display order.
func Tools() []ToolSpec {
	return []ToolSpec{
		{"iptables-legacy", []string{"iptables-legacy", "-V"}},
		{"iptables-nft", []string{"iptables-nft", "-V"}},
		{"nft", []string{"nft", "-v"}},
		{"firewalld", []string{"firewall-cmd", "--version"}},
		{"iproute2", []string{"ip", "-V"}},
	}
}

var versionRE = regexp.MustCompile(`\d+\.\d+(\.\d+)*`)

// ParseVersion returns the first dotted version number in out ("" if none):
// "iptables v1.8.7 (legacy)" -> "1.8.7", "ip utility, iproute2-6.1.0, libbpf
// 1.1.0" -> "6.1.0".
func ParseVersion(out string) string { return versionRE.FindString(out) }

// firewalldScript starts a private dbus and firewalld (in the measurement's
// own network, mount and PID namespaces, with /run and /var/log on tmpfs so
// nothing is left in the rootfs) for firewall-cmd versions that ask the
// daemon for its version (0.9.x).
const firewalldScript = `set -e
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/log
mkdir -p /run/dbus
dbus-daemon --system --fork
firewalld --nofork --nopid >/dev/null 2>&1 &
i=0
until firewall-cmd --state >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 150 ] || { echo "firewalld did not start in 30s" >&2; exit 1; }
  sleep 0.2
done
firewall-cmd --version`

// Measure runs each tool's version command inside the rootfs, in new
// network, mount and PID namespaces. A tool that is not installed is
// recorded as such; one that fails or prints no version is an error.
func (c Chroot) Measure(ctx context.Context, j *Job) (map[string]Tool, error) {
	out := map[string]Tool{}
	for _, spec := range Tools() {
		t := Tool{Command: execx.Quote(spec.Argv)}
		if _, err := c.run(ctx, j, true, nil, "/bin/sh", "-c", `command -v "$1"`, "sh", spec.Argv[0]); err != nil {
			t.Note = "not installed"
			out[spec.Name] = t
			continue
		}
		res, err := c.run(ctx, j, true, nil, spec.Argv...)
		if err != nil && spec.Name == "firewalld" {
			t.Note = "firewall-cmd asks the daemon: measured with firewalld running in the chroot's own namespaces"
			res, err = c.run(ctx, j, true, nil, "/bin/sh", "-c", firewalldScript)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec.Name, short(err))
		}
		text := strings.TrimSpace(string(res.Stdout))
		if text == "" {
			text = strings.TrimSpace(string(res.Stderr))
		}
		lines := strings.Split(text, "\n")
		t.Output = lines[len(lines)-1]
		if t.Version = ParseVersion(t.Output); t.Version == "" {
			return nil, fmt.Errorf("%s: no version in the output of %s: %q", spec.Name, t.Command, text)
		}
		out[spec.Name] = t
	}
	return out, nil
}

package agent

import (
	"context"
	"debug/buildinfo"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"lab/harness/execx"
)

// factCommands are the programs whose own version output is a fact, by
// fact name.
var factCommands = map[string][]string{
	"iptables_legacy": {"iptables-legacy", "-V"},
	"iptables_nft":    {"iptables-nft", "-V"},
	"nft":             {"nft", "-v"},
	"iproute2":        {"ip", "-V"},
}

// FactsArgs says which facts to read: the kernel and OS always; with
// Programs, each program's version too.
type FactsArgs struct {
	Programs bool `json:"programs"`
}

// versionRe finds the first version-looking word in a program's output.
var versionRe = regexp.MustCompile(`v?(\d+\.\d+(\.\d+)?[^\s,)]*)`)

// facts reads what really runs in this node: the kernel release, each
// program's own version output, the OS, and the CNI plugins' module
// version from their build info.
func (a *Agent) facts(ctx context.Context, args FactsArgs) (Facts, error) {
	f := Facts{}
	var mu sync.Mutex
	set := func(k, v string) {
		mu.Lock()
		defer mu.Unlock()
		f[k] = v
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		set("kernel", strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				set("os", strings.Trim(v, `"`))
			}
		}
	}
	if !args.Programs {
		return f, nil
	}
	if v := PluginVersion(filepath.Join(PluginDir, "portmap")); v != "" {
		set("cni_plugins", v)
	}
	cmds := map[string][]string{}
	for k, v := range factCommands {
		cmds[k] = v
	}
	// firewall-cmd needs the running daemon's bus; without one, the
	// installed package's version is what firewall-offline-cmd prints.
	// The running daemon's version property is what `firewall-cmd
	// --version` prints, read without starting a Python interpreter.
	if _, err := os.Stat("/run/dbus/system_bus_socket"); err == nil {
		cmds["firewalld"] = []string{"dbus-send", "--system", "--print-reply", "--reply-timeout=5000",
			"--dest=org.fedoraproject.FirewallD1", "/org/fedoraproject/FirewallD1", "org.freedesktop.DBus.Properties.Get",
			"string:org.fedoraproject.FirewallD1", "string:version"}
	} else if v := installedFirewalld(); v != "" {
		set("firewalld", v+" (installed, not running)")
	}
	var wg sync.WaitGroup
	for name, argv := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			res, err := execx.Host{}.Run(cctx, execx.Cmd{Argv: argv})
			if err != nil {
				return // not installed here: no fact
			}
			out := strings.TrimSpace(string(res.Stdout) + string(res.Stderr))
			if i := strings.Index(out, `string "`); argv[0] == "dbus-send" && i >= 0 {
				out, _, _ = strings.Cut(out[i+len(`string "`):], `"`) // not the reply header's time=...
			}
			if m := versionRe.FindStringSubmatch(out); m != nil {
				v := m[1]
				if strings.Contains(out, "(legacy)") {
					v += " (legacy)"
				} else if strings.Contains(out, "(nf_tables)") {
					v += " (nf_tables)"
				}
				set(name, v)
			}
		}()
	}
	wg.Wait()
	return f, nil
}

// firewalldConfig holds the VERSION constant firewall-cmd and
// firewall-offline-cmd print, in Debian's and RHEL's python paths.
var firewalldConfig = []string{
	"/usr/lib/python3/dist-packages/firewall/config/__init__.py",
	"/usr/lib/python3*/site-packages/firewall/config/__init__.py",
}

var firewalldVersion = regexp.MustCompile(`(?m)^VERSION = ["']([^"']+)["']`)

// installedFirewalld reads the installed firewalld's version without
// starting Python: the constant `firewall-offline-cmd --version` prints.
func installedFirewalld() string {
	for _, pat := range firewalldConfig {
		files, _ := filepath.Glob(pat)
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				if m := firewalldVersion.FindSubmatch(b); m != nil {
					return string(m[1])
				}
			}
		}
	}
	return ""
}

// PluginVersion is the containernetworking/plugins release a built plugin
// binary was built from (its build info), "" when unknown.
func PluginVersion(path string) string {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/containernetworking/plugins" {
			return d.Version
		}
	}
	if bi.Main.Path == "github.com/containernetworking/plugins" {
		return bi.Main.Version
	}
	return ""
}

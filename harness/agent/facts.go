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
	"iptables_legacy":     {"iptables-legacy", "-V"},
	"iptables_nft":        {"iptables-nft", "-V"},
	"nft":                 {"nft", "-v"},
	"firewalld":           {"firewall-cmd", "--version"},
	"firewalld_installed": {"firewall-offline-cmd", "--version"},
	"iproute2":            {"ip", "-V"},
}

// versionRe finds the first version-looking word in a program's output.
var versionRe = regexp.MustCompile(`v?(\d+\.\d+(\.\d+)?[^\s,)]*)`)

// facts reads what really runs in this node: the kernel release, each
// program's own version output, the OS, and the CNI plugins' module
// version from their build info.
func (a *Agent) facts(ctx context.Context, _ Empty) (Facts, error) {
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
	if v := pluginVersion(filepath.Join(PluginDir, "portmap")); v != "" {
		set("cni_plugins", v)
	}
	var wg sync.WaitGroup
	for name, argv := range factCommands {
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
	// firewall-cmd asks the running daemon; without one, the installed
	// package's version is what firewall-offline-cmd prints.
	if v, ok := f["firewalld_installed"]; ok {
		if _, running := f["firewalld"]; !running {
			f["firewalld"] = v + " (installed, not running)"
		}
		delete(f, "firewalld_installed")
	}
	return f, nil
}

// pluginVersion reads the containernetworking/plugins module version a
// plugin binary was built from ("" when unreadable).
func pluginVersion(path string) string {
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

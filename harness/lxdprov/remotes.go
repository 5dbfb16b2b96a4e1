package lxdprov

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// A remote named by `lab --remote NAME` is read from LXD's own client
// configuration, the file `lxc remote add` writes (lxc/config in
// github.com/canonical/lxd): config.yml with a remotes map of addr
// (https://HOST:PORT or unix://SOCKET), protocol, auth_type, project; the
// client certificate client.crt/client.key and the pinned server
// certificate servercerts/NAME.crt beside it.

// LXDConfigFile is the client configuration's file name in its directory.
const LXDConfigFile = "config.yml"

// ConfigDirs are the directories whose config.yml is searched for a
// remote, in order: $LXD_CONF when set (as lxc itself), else the snap's
// lxc (~/snap/lxd/common/config) and Debian's (~/.config/lxc); then the
// system-wide remotes ($LXD_GLOBAL_CONF, else /etc/lxd).
func ConfigDirs() []string {
	var dirs []string
	if d := os.Getenv("LXD_CONF"); d != "" {
		dirs = append(dirs, d)
	} else if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "snap", "lxd", "common", "config"), filepath.Join(home, ".config", "lxc"))
	}
	global := "/etc/lxd"
	if d := os.Getenv("LXD_GLOBAL_CONF"); d != "" {
		global = d
	}
	return append(dirs, global)
}

// lxcRemote is one entry of config.yml's remotes.
type lxcRemote struct {
	Addr     string `yaml:"addr"`
	AuthType string `yaml:"auth_type"`
	Project  string `yaml:"project"`
	Protocol string `yaml:"protocol"`
	Public   bool   `yaml:"public"`
}

// lxcConfig is the part of config.yml the lab reads.
type lxcConfig struct {
	Remotes map[string]lxcRemote `yaml:"remotes"`
}

// UnknownRemoteError says no configuration defines the remote.
type UnknownRemoteError struct {
	Name  string
	Known []string // remotes the searched files define (lxd protocol)
	Files []string // the files searched
}

func (e *UnknownRemoteError) Error() string {
	known := "none"
	if len(e.Known) > 0 {
		known = strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("no LXD remote %q in %s (known: %s); add it with `lxc remote add %s https://HOST:8443` or set LXD_CONF to the directory of the config.yml that has it",
		e.Name, strings.Join(e.Files, ", "), known, e.Name)
}

// LoadRemote returns the remote name of the first of dirs (ConfigDirs when
// nil) whose config.yml defines it. "local" without a definition is the
// local daemon. The remote must speak LXD's API (not an image server), and
// an HTTPS one authenticate with TLS: its client certificate and key and
// the pinned server certificate must exist.
func LoadRemote(name string, dirs []string) (Remote, error) {
	if dirs == nil {
		dirs = ConfigDirs()
	}
	var files, known []string
	for _, dir := range dirs {
		file := filepath.Join(dir, LXDConfigFile)
		b, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Remote{}, fmt.Errorf("lxd remote %s: %w", name, err)
		}
		files = append(files, file)
		var cfg lxcConfig
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			return Remote{}, fmt.Errorf("lxd remote %s: %s: %w; fix the file (lxc remote list reads it)", name, file, err)
		}
		r, ok := cfg.Remotes[name]
		if !ok {
			for k, v := range cfg.Remotes {
				if v.Protocol == "" || v.Protocol == "lxd" {
					known = append(known, k)
				}
			}
			continue
		}
		return remoteFrom(name, dir, dirs, r)
	}
	if name == "local" {
		return Remote{Name: "local"}, nil
	}
	if len(files) == 0 {
		files = []string{filepath.Join(dirs[0], LXDConfigFile) + " (missing)"}
	}
	slices.Sort(known)
	return Remote{}, &UnknownRemoteError{Name: name, Known: slices.Compact(known), Files: files}
}

// remoteFrom turns a config.yml entry found in dir into a Remote.
func remoteFrom(name, dir string, dirs []string, r lxcRemote) (Remote, error) {
	if r.Protocol != "" && r.Protocol != "lxd" {
		return Remote{}, fmt.Errorf("lxd remote %s (%s) is a %s image server, not an LXD daemon; name a remote added with `lxc remote add NAME https://HOST:8443`", name, r.Addr, r.Protocol)
	}
	out := Remote{Name: name, Project: r.Project}
	switch {
	case strings.HasPrefix(r.Addr, "unix:"):
		out.Socket = strings.TrimPrefix(strings.TrimPrefix(r.Addr, "unix:"), "//")
		return out, nil
	case strings.HasPrefix(r.Addr, "https://"):
	default:
		return Remote{}, fmt.Errorf("lxd remote %s: address %q is neither https://HOST:PORT nor unix://SOCKET; fix it with `lxc remote set-url %s https://HOST:8443`", name, r.Addr, name)
	}
	if r.AuthType != "" && r.AuthType != "tls" {
		return Remote{}, fmt.Errorf("lxd remote %s: auth_type %s is not supported; the lab authenticates with its TLS client certificate (`lxc remote add %s URL --auth-type tls`)", name, r.AuthType, name)
	}
	out.URL = r.Addr
	// The client certificate is the user's (lxc keeps one per
	// configuration directory); a system-wide remote may come with its own.
	for _, d := range append([]string{dirs[0]}, dir) {
		crt, key := filepath.Join(d, "client.crt"), filepath.Join(d, "client.key")
		if exists(crt) && exists(key) {
			out.ClientCert, out.ClientKey = crt, key
			break
		}
	}
	if out.ClientCert == "" {
		return Remote{}, fmt.Errorf("lxd remote %s: no client certificate (client.crt and client.key) in %s; `lxc remote add` creates one", name, dirs[0])
	}
	out.ServerCert = filepath.Join(dir, "servercerts", name+".crt")
	if !exists(out.ServerCert) {
		return Remote{}, fmt.Errorf("lxd remote %s: no pinned server certificate %s; add the remote with `lxc remote add %s %s` (it stores the certificate you accept)", name, out.ServerCert, name, r.Addr)
	}
	return out, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

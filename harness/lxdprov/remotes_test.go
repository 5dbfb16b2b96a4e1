package lxdprov_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/lxdprov"
)

// lxcConf writes a config.yml (and the named files, empty) into a new
// directory, as `lxc remote add` leaves it.
func lxcConf(t *testing.T, yml string, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, lxdprov.LXDConfigFile), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const remotesYML = `default-remote: local
remotes:
  images:
    addr: https://images.lxd.canonical.com
    protocol: simplestreams
    public: true
  lab-cluster:
    addr: https://10.0.0.5:8443
    auth_type: tls
    project: lab
    protocol: lxd
    public: false
  sock:
    addr: unix:///run/other/unix.socket
    public: false
  oidc:
    addr: https://10.0.0.6:8443
    auth_type: oidc
    protocol: lxd
  ftp:
    addr: ftp://10.0.0.7
    protocol: lxd
aliases: {}
`

// TestLoadRemote reads remotes the way lxc writes them: the HTTPS remote
// with the user's client certificate and its pinned server certificate, a
// unix socket remote, "local"; and refuses what the lab cannot drive.
func TestLoadRemote(t *testing.T) {
	dir := lxcConf(t, remotesYML, "client.crt", "client.key", "servercerts/lab-cluster.crt")
	dirs := []string{dir}
	r, err := lxdprov.LoadRemote("lab-cluster", dirs)
	if err != nil {
		t.Fatal(err)
	}
	want := lxdprov.Remote{Name: "lab-cluster", URL: "https://10.0.0.5:8443", Project: "lab",
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key"),
		ServerCert: filepath.Join(dir, "servercerts", "lab-cluster.crt")}
	if r != want {
		t.Errorf("lab-cluster = %+v\nwant %+v", r, want)
	}
	if r, err := lxdprov.LoadRemote("sock", dirs); err != nil || r.Socket != "/run/other/unix.socket" || r.URL != "" {
		t.Errorf("sock = %+v, %v", r, err)
	}
	if r, err := lxdprov.LoadRemote("local", dirs); err != nil || r.URL != "" || r.Socket != "" {
		t.Errorf("local = %+v, %v", r, err)
	}
	var unknown *lxdprov.UnknownRemoteError
	_, err = lxdprov.LoadRemote("nope", dirs)
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "lab-cluster, oidc, sock") || strings.Contains(err.Error(), "images") {
		t.Errorf("unknown remote: %v (want the LXD remotes listed, not the image server)", err)
	}
	for name, want := range map[string]string{"images": "image server", "oidc": "auth_type oidc", "ftp": "neither https"} {
		if _, err := lxdprov.LoadRemote(name, dirs); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, want)
		}
	}
	// The pinned certificate and the client certificate are required.
	noPin := lxcConf(t, remotesYML, "client.crt", "client.key")
	if _, err := lxdprov.LoadRemote("lab-cluster", []string{noPin}); err == nil || !strings.Contains(err.Error(), "pinned server certificate") {
		t.Errorf("without servercerts/lab-cluster.crt: %v", err)
	}
	noClient := lxcConf(t, remotesYML, "servercerts/lab-cluster.crt")
	if _, err := lxdprov.LoadRemote("lab-cluster", []string{noClient}); err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Errorf("without client.crt: %v", err)
	}
	// The first directory that defines the remote wins; a later
	// (system-wide) one is searched when earlier ones lack it.
	global := lxcConf(t, "remotes:\n  shared:\n    addr: https://10.0.0.9:8443\n    protocol: lxd\n", "servercerts/shared.crt")
	r, err = lxdprov.LoadRemote("shared", []string{dir, global})
	if err != nil || r.ClientCert != filepath.Join(dir, "client.crt") || r.ServerCert != filepath.Join(global, "servercerts", "shared.crt") {
		t.Errorf("shared = %+v, %v (want the user's client certificate and the global pinned one)", r, err)
	}
	bad := lxcConf(t, "remotes: [")
	if _, err := lxdprov.LoadRemote("x", []string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a broken config.yml: %v", err)
	}
}

// TestConfigDirs follows lxc: LXD_CONF alone when set, else the snap's
// and Debian's directories, then the system-wide one.
func TestConfigDirs(t *testing.T) {
	t.Setenv("LXD_CONF", "/x/conf")
	t.Setenv("LXD_GLOBAL_CONF", "/x/global")
	if got := lxdprov.ConfigDirs(); strings.Join(got, " ") != "/x/conf /x/global" {
		t.Errorf("with LXD_CONF: %v", got)
	}
	t.Setenv("LXD_CONF", "")
	t.Setenv("HOME", "/home/u")
	if got := lxdprov.ConfigDirs(); strings.Join(got, " ") != "/home/u/snap/lxd/common/config /home/u/.config/lxc /x/global" {
		t.Errorf("without LXD_CONF: %v", got)
	}
}

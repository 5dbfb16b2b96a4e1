package lxdprov_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"lab/harness/execx"
	"lab/harness/lxdprov"
)

// clientCert writes a self-signed client certificate and key into dir.
func clientCert(t *testing.T, dir string) (crt, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lab-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	crt, key = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return crt, key
}

// daemon is an extra LXD daemon started by a test.
type daemon struct {
	dir string   // its LXD_DIR
	env []string // the environment that reaches it (LXD_DIR set)
}

// startDaemon starts an LXD daemon with its own LXD_DIR under dir, in a
// private mount namespace (and the network namespace netns, when not
// empty), and waits until it is ready. It is shut down and its directory
// removed when the test ends.
func startDaemon(t *testing.T, dir, netns string) daemon {
	t.Helper()
	ctx := context.Background()
	d := daemon{dir: filepath.Join(dir, "lxd")}
	d.env = append(os.Environ(), "LXD_DIR="+d.dir)
	if err := os.MkdirAll(d.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	argv := []string{"unshare", "--mount", "--propagation", "private", "--",
		"lxd", "--group", "lxd", "--logfile", filepath.Join(dir, "lxd.log")}
	if netns != "" {
		// nsenter, not `ip netns exec`: that remounts /sys and hides the
		// cgroup hierarchy LXD needs. /sys is remounted here too, so LXD
		// sees its own namespace's interfaces (a NIC's bridge is looked up
		// in /sys/class/net), with the cgroup hierarchy bound back.
		cg := filepath.Join(dir, "cgroup")
		if err := os.MkdirAll(cg, 0o700); err != nil {
			t.Fatal(err)
		}
		argv = append([]string{"nsenter", "--net=/run/netns/" + netns, "--",
			"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
			`mount --rbind /sys/fs/cgroup "$0" && mount -t sysfs sysfs /sys && mount --rbind "$0" /sys/fs/cgroup && umount -l "$0" && exec "$@"`, cg},
			argv[5:]...)
	}
	p, err := execx.Start(execx.Cmd{Argv: argv, Env: d.env}, filepath.Join(dir, "out.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, _ = execx.Host{}.Run(sctx, execx.Cmd{Argv: []string{"lxd", "shutdown", "--timeout", "30"}, Env: d.env})
		_ = p.Stop(sctx, 5*time.Second)
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	d.run(t, "", "lxd", "waitready", "--timeout", "60")
	return d
}

// run runs a command against the daemon (LXD_DIR set) and returns its
// output; a failure ends the test with the daemon's log.
func (d daemon) run(t *testing.T, stdin string, argv ...string) string {
	t.Helper()
	res, err := (execx.Host{}).Run(context.Background(), execx.Cmd{Argv: argv, Env: d.env, Stdin: []byte(stdin)})
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(d.dir), "lxd.log"))
		t.Fatalf("%v\n%s", err, b)
	}
	return string(res.Stdout)
}

// secondDaemon starts another LXD daemon listening for HTTPS on a
// loopback port, initialised with a dir pool and trusting a fresh client
// certificate.
func secondDaemon(t *testing.T) lxdprov.Remote {
	t.Helper()
	dir, err := os.MkdirTemp("", "lab-lxd-remote-")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	d := startDaemon(t, dir, "")
	d.run(t, "config:\n  core.https_address: "+addr+"\n"+poolPreseed, "lxd", "init", "--preseed")
	crt, key := clientCert(t, dir)
	d.run(t, "", "lxc", "config", "trust", "add", crt)
	return lxdprov.Remote{Name: "second", URL: "https://" + addr, ClientCert: crt, ClientKey: key,
		ServerCert: filepath.Join(d.dir, "server.crt")}
}

// poolPreseed is a dir pool and a default profile using it.
const poolPreseed = "storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root: {type: disk, path: /, pool: default}\n"

// TestHTTPSRemote drives a second LXD daemon over HTTPS with a client
// certificate and the pinned server certificate: a node boots from the
// imported image and runs commands; a wrong pinned certificate is refused.
func TestHTTPSRemote(t *testing.T) {
	t.Parallel()
	available(t)
	ctx := context.Background()
	r := secondDaemon(t)
	bad := r
	bad.ServerCert = r.ClientCert // not the server's certificate
	if err := lxdprov.NewWith(lxdprov.Options{Remote: bad}).Check(ctx); err == nil {
		t.Error("a wrong pinned server certificate was accepted")
	}
	p := shutAtEnd(t, lxdprov.NewWith(lxdprov.Options{Remote: r}).(*lxdprov.Provider))
	if err := p.Check(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Forget(ctx, lxdprov.DefaultImage) })
	e := env(t, p, "")
	n, err := e.AddNode(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if h := out(t, n, "hostname"); h != "r1" {
		t.Errorf("hostname on the remote node: %q", h)
	}
	if u, _ := e.(interface{ Userspace() string }); u == nil || !strings.Contains(u.Userspace(), "LXD 5") {
		t.Errorf("userspace does not name the remote daemon")
	}
}

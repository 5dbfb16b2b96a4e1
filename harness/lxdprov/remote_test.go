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

// secondDaemon starts another LXD daemon with its own LXD_DIR in a private
// mount namespace, listening for HTTPS on a loopback port, initialised
// with a dir pool and trusting a fresh client certificate. It is shut down
// and removed when the test ends.
func secondDaemon(t *testing.T) lxdprov.Remote {
	t.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lab-lxd-remote-")
	if err != nil {
		t.Fatal(err)
	}
	lxdDir := filepath.Join(dir, "lxd")
	env := append(os.Environ(), "LXD_DIR="+lxdDir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := os.MkdirAll(lxdDir, 0o711); err != nil {
		t.Fatal(err)
	}
	p, err := execx.Start(execx.Cmd{Argv: []string{"unshare", "--mount", "--propagation", "private", "--",
		"lxd", "--group", "lxd", "--logfile", filepath.Join(dir, "lxd.log")}, Env: env}, filepath.Join(dir, "out.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, _ = execx.Host{}.Run(sctx, execx.Cmd{Argv: []string{"lxd", "shutdown", "--timeout", "30"}, Env: env})
		_ = p.Stop(sctx, 5*time.Second)
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	run := func(stdin string, argv ...string) {
		t.Helper()
		if _, err := (execx.Host{}).Run(ctx, execx.Cmd{Argv: argv, Env: env, Stdin: []byte(stdin)}); err != nil {
			b, _ := os.ReadFile(filepath.Join(dir, "lxd.log"))
			t.Fatalf("%v\n%s", err, b)
		}
	}
	run("", "lxd", "waitready", "--timeout", "60")
	run("config:\n  core.https_address: "+addr+"\nstorage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root: {type: disk, path: /, pool: default}\n",
		"lxd", "init", "--preseed")
	crt, key := clientCert(t, dir)
	run("", "lxc", "config", "trust", "add", crt)
	return lxdprov.Remote{Name: "second", URL: "https://" + addr, ClientCert: crt, ClientKey: key,
		ServerCert: filepath.Join(lxdDir, "server.crt")}
}

// TestHTTPSRemote drives a second LXD daemon over HTTPS with a client
// certificate and the pinned server certificate: a node boots from the
// imported image and runs commands; a wrong pinned certificate is refused.
func TestHTTPSRemote(t *testing.T) {
	available(t)
	ctx := context.Background()
	r := secondDaemon(t)
	bad := r
	bad.ServerCert = r.ClientCert // not the server's certificate
	if err := lxdprov.NewWith(lxdprov.Options{Remote: bad}).Check(ctx); err == nil {
		t.Error("a wrong pinned server certificate was accepted")
	}
	p := lxdprov.NewWith(lxdprov.Options{Remote: r}).(*lxdprov.Provider)
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

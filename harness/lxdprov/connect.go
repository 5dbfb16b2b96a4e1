package lxdprov

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	lxd "github.com/canonical/lxd/client"
)

// Remote says which LXD daemon the provider drives. The zero value is the
// local daemon on its unix socket.
type Remote struct {
	// Name labels the remote in messages ("local" when empty).
	Name string
	// Socket is the local daemon's unix socket ("": LXD_DIR's, else the
	// snap's when it exists, else Debian's /var/lib/lxd/unix.socket).
	Socket string
	// URL, when set, is an HTTPS remote (https://host:8443).
	URL string
	// ClientCert and ClientKey are PEM files of the client certificate the
	// remote trusts.
	ClientCert, ClientKey string
	// ServerCert is the PEM file of the remote's own certificate, pinned:
	// the connection fails when the server presents another one.
	ServerCert string
	// Project is the LXD project ("" or "default": the default one).
	Project string
	// Target places every instance on this member of an LXD cluster (""
	// on a cluster: the provider places each cell on a member, see
	// placement.go).
	Target string
}

// socketCandidates are where a local daemon's socket is looked for.
func socketCandidates() []string {
	if d := os.Getenv("LXD_DIR"); d != "" {
		return []string{filepath.Join(d, "unix.socket")}
	}
	return []string{"/var/snap/lxd/common/lxd/unix.socket", "/var/lib/lxd/unix.socket"}
}

// SocketPath returns the local socket r uses: the first candidate that
// exists (the last one when none does, for the error message).
func (r Remote) SocketPath() string {
	if r.Socket != "" {
		return r.Socket
	}
	c := socketCandidates()
	for _, p := range c {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return c[len(c)-1]
}

func (r Remote) label() string {
	switch {
	case r.Name != "":
		return r.Name
	case r.URL != "":
		return r.URL
	}
	return "local (" + r.SocketPath() + ")"
}

// connect opens a client for r and checks that the daemon answers.
func (r Remote) connect(ctx context.Context) (lxd.InstanceServer, error) {
	var (
		c   lxd.InstanceServer
		err error
	)
	if r.URL == "" {
		c, err = lxd.ConnectLXDUnixWithContext(ctx, r.SocketPath(), &lxd.ConnectionArgs{UserAgent: "lab"})
	} else {
		args := &lxd.ConnectionArgs{UserAgent: "lab"}
		for _, f := range []struct {
			path string
			dst  *string
		}{{r.ClientCert, &args.TLSClientCert}, {r.ClientKey, &args.TLSClientKey}, {r.ServerCert, &args.TLSServerCert}} {
			if f.path == "" {
				continue
			}
			b, rerr := os.ReadFile(f.path)
			if rerr != nil {
				return nil, fmt.Errorf("lxd remote %s: %w", r.label(), rerr)
			}
			*f.dst = string(b)
		}
		if args.TLSServerCert == "" {
			return nil, fmt.Errorf("lxd remote %s: no pinned server certificate (ServerCert)", r.label())
		}
		c, err = lxd.ConnectLXDWithContext(ctx, r.URL, args)
	}
	if err != nil {
		return nil, fmt.Errorf("lxd %s: %w", r.label(), err)
	}
	srv, _, err := c.GetServer()
	if err != nil {
		return nil, fmt.Errorf("lxd %s: %w", r.label(), err)
	}
	if r.URL != "" && srv.Auth != "trusted" {
		return nil, fmt.Errorf("lxd remote %s: the client certificate is not trusted (auth %q)", r.label(), srv.Auth)
	}
	if r.Project != "" && r.Project != "default" {
		c = c.UseProject(r.Project)
	}
	if r.Target != "" {
		c = c.UseTarget(r.Target)
	}
	return c, nil
}

// serverVersion is "LXD 5.0.2" style text for messages and cells.
func serverVersion(c lxd.InstanceServer) string {
	srv, _, err := c.GetServer()
	if err != nil {
		return "LXD (version unknown)"
	}
	s := "LXD " + srv.Environment.ServerVersion
	if srv.Environment.ServerClustered {
		s += " cluster member " + srv.Environment.ServerName
	}
	return strings.TrimSpace(s)
}

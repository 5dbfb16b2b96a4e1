// Package cni attaches pod sandboxes to a node's network with the real CNI
// plugins (bridge, host-local, portmap, loopback from
// github.com/containernetworking/plugins at the version the profile pins,
// one module per version in harness/cni/plugins-VERSION), driven through
// libcni exactly as a container runtime does. Plugins execute inside the
// node's network namespace with the node's iptables variant first in PATH.
package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"lab/harness/execx"
	"lab/harness/locate"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// Plugins are the plugin packages the lab builds, by binary name.
var Plugins = map[string]string{
	"bridge":     "github.com/containernetworking/plugins/plugins/main/bridge",
	"loopback":   "github.com/containernetworking/plugins/plugins/main/loopback",
	"host-local": "github.com/containernetworking/plugins/plugins/ipam/host-local",
	"portmap":    "github.com/containernetworking/plugins/plugins/meta/portmap",
}

// PluginDir locates the directory of the built plugin versions
// (VERSION/NAME under it): $LAB_CNI_PATH, cni/ next to the lab binary, or
// bin/cni in the repository.
func PluginDir() (string, error) {
	dir, err := locate.Path("LAB_CNI_PATH", "bin/cni", "build")
	if err != nil {
		return "", fmt.Errorf("CNI plugins: %w", err)
	}
	return dir, nil
}

// VersionDir returns dir/version after checking every plugin is built there.
func VersionDir(dir, version string) (string, error) {
	if version == "" {
		return "", fmt.Errorf("CNI plugins: the profile pins no version (cni.plugins_version)")
	}
	vdir := filepath.Join(dir, version)
	for name := range Plugins {
		if _, err := os.Stat(filepath.Join(vdir, name)); err != nil {
			return "", fmt.Errorf("CNI plugin %s %s missing in %s; run `make build` (versions: harness/cni/plugins-*)", name, version, vdir)
		}
	}
	return vdir, nil
}

// Build compiles the plugins of version into dir/version with the go tool,
// from the version's own module (harness/cni/plugins-VERSION, whose tool
// directives name them), statically as `make build` does.
func Build(ctx context.Context, root, dir, version string) error {
	mod := filepath.Join(root, "harness", "cni", "plugins-"+version)
	argv := []string{"go", "build", "-C", mod, "-trimpath", "-o", filepath.Join(dir, version) + "/", "tool"}
	_, err := execx.Host{}.Run(ctx, execx.Cmd{Argv: argv, Env: append(os.Environ(), "CGO_ENABLED=0")})
	return err
}

// BridgeOptions are the bridge plugin's settings a profile may change.
type BridgeOptions struct {
	// Hairpin is the bridge plugin's hairpinMode.
	Hairpin bool
	// MTU is the pods' MTU (0: the plugin's default).
	MTU int
}

// FlannelConfList is the conflist MicroK8s' flannel setup delegates to:
// bridge cni0 with host-local IPAM, then portmap for hostPorts. dataDir keeps
// host-local's leases (per cell, so nothing lands in /var/lib/cni).
func FlannelConfList(network, subnet, dataDir string, o BridgeOptions) []byte {
	bridge := map[string]any{
		"type":        "bridge",
		"bridge":      "cni0",
		"isGateway":   true,
		"ipMasq":      false,
		"hairpinMode": o.Hairpin,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": subnet}}},
			"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
			"dataDir": dataDir,
		},
	}
	if o.MTU > 0 {
		bridge["mtu"] = o.MTU
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       network,
		"plugins": []any{
			bridge,
			map[string]any{
				"type":         "portmap",
				"capabilities": map[string]bool{"portMappings": true},
				"snat":         true,
			},
		},
	}
	b, _ := json.Marshal(conf)
	return b
}

// PortMapping is one hostPort of a pod.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

// Net is one node's pod network.
type Net struct {
	conf *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

// New prepares a network from a conflist. node runs the plugins (inside the
// node's namespace); env is added to the plugins' environment.
func New(pluginDir, cacheDir string, node execx.Runner, conflist []byte) (*Net, error) {
	list, err := libcni.NetworkConfFromBytes(conflist)
	if err != nil {
		return nil, fmt.Errorf("cni conflist: %w", err)
	}
	ex := &pluginExec{node: node}
	return &Net{conf: libcni.NewCNIConfigWithCacheDir([]string{pluginDir}, cacheDir, ex), list: list}, nil
}

func runtimeConf(containerID, podNS string, ports []PortMapping) *libcni.RuntimeConf {
	rc := &libcni.RuntimeConf{ContainerID: containerID, NetNS: podNS, IfName: "eth0"}
	if len(ports) > 0 {
		pm := make([]any, len(ports))
		for i, p := range ports {
			pm[i] = p
		}
		rc.CapabilityArgs = map[string]any{"portMappings": pm}
	}
	return rc
}

// Add runs CNI ADD for a sandbox and returns the pod's IPv4 address.
func (n *Net) Add(ctx context.Context, containerID, podNS string, ports []PortMapping) (netip.Addr, error) {
	res, err := n.conf.AddNetworkList(ctx, n.list, runtimeConf(containerID, podNS, ports))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("CNI ADD %s for %s: %w", n.list.Name, containerID, err)
	}
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("CNI ADD result: %w", err)
	}
	for _, ip := range r.IPs {
		if a, ok := netip.AddrFromSlice(ip.Address.IP); ok && a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("CNI ADD %s for %s: no IPv4 address in result", n.list.Name, containerID)
}

// Del runs CNI DEL for a sandbox.
func (n *Net) Del(ctx context.Context, containerID, podNS string, ports []PortMapping) error {
	if err := n.conf.DelNetworkList(ctx, n.list, runtimeConf(containerID, podNS, ports)); err != nil {
		return fmt.Errorf("CNI DEL %s for %s: %w", n.list.Name, containerID, err)
	}
	return nil
}

// pluginExec runs plugin binaries through the node's runner, so they execute
// in the node's network namespace with the node's environment.
type pluginExec struct {
	version.PluginDecoder
	node execx.Runner
}

func (p *pluginExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	res, err := p.node.Run(ctx, execx.Cmd{Argv: []string{pluginPath}, Stdin: stdin, Env: environ})
	if err != nil {
		var xe *execx.Error
		var perr types.Error
		if errors.As(err, &xe) && json.Unmarshal([]byte(xe.Stdout), &perr) == nil && perr.Msg != "" {
			return nil, fmt.Errorf("%s: %w", execx.Quote(xe.Argv), &perr)
		}
		return nil, err
	}
	return res.Stdout, nil
}

func (p *pluginExec) FindInPath(plugin string, paths []string) (string, error) {
	return invoke.FindInPath(plugin, paths)
}

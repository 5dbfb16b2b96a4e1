// Package profile loads environment profiles: YAML files in images/ that pin
// everything a reported failure depends on (MicroK8s release and snap
// revision, CNI, iptables variant, kernel, firewalls). A profile is one column
// of the matrix; profiles compose with `extends:`, later files overriding
// earlier ones key by key.
package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"lab/harness/image"
	"lab/harness/inputfile"
	"lab/harness/kernel"
	"lab/harness/locate"

	"gopkg.in/yaml.v3"
)

// Profile is one environment.
type Profile struct {
	// Name is the file's base name; a `name:` in the file must match it.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Extends lists profiles merged under this one, in order.
	Extends []string `yaml:"extends"`
	// Image names the node image the profile's nodes boot with, a recipe in
	// images/recipes/ (`lab images`). Optional: the netns provider runs the
	// host's binaries whatever it says.
	Image    string   `yaml:"image"`
	Distro   Distro   `yaml:"distro"`
	MicroK8s MicroK8s `yaml:"microk8s"`
	CNI      CNI      `yaml:"cni"`
	Iptables Iptables `yaml:"iptables"`
	Kernel   Kernel   `yaml:"kernel"`
	// Firewalld runs the distribution's firewalld on the node.
	Firewalld Firewalld `yaml:"firewalld"`
	// ProviderFirewall is the hosting provider's firewall in front of the node.
	ProviderFirewall ProviderFirewall `yaml:"provider_firewall"`
	// Sysctls are set in every MicroK8s node when it boots, before its pod
	// network: dotted net.* keys (the node's network namespace only), e.g.
	// net.ipv4.conf.all.rp_filter: "1". A key the provider does not let a
	// node set fails the cell's boot, naming it.
	Sysctls map[string]string `yaml:"sysctls"`
	// UplinkMTU is the MTU of a MicroK8s node's public interface (0: the
	// provider's default, 1500).
	UplinkMTU int `yaml:"uplink_mtu"`
	// KubeProxy configures kube-proxy.
	KubeProxy KubeProxy `yaml:"kube_proxy"`
	// Sources are the upstream sources of the facts the profile pins (see
	// Pinned), by fact name: an http(s) URL each (sources.go).
	Sources map[string]string `yaml:"sources"`
	// Driver is what builds the cell's cluster: sim (default) or microk8s
	// (the real snap in a VM; see vm.go).
	Driver string `yaml:"driver"`
	// VM pins a virtual-machine node (real infrastructure only).
	VM VM `yaml:"vm"`
	// File is the path the profile was loaded from.
	File string `yaml:"-"`
}

// Distro names the node's distribution.
type Distro struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
}

// MicroK8s pins the snap and how its stop/start behave.
type MicroK8s struct {
	Version  string `yaml:"version"`
	Revision int    `yaml:"revision"`
	Channel  string `yaml:"channel"`
	// Kubernetes is the Kubernetes release the MicroK8s release bundles
	// (vX.Y.Z): its own kube-proxy is what the sim runs on the node
	// (bin/kube-proxy/VERSION/kube-proxy, harness/kubeproxy/k8s-vX.Y).
	Kubernetes string `yaml:"kubernetes"`
	Stop       Stop   `yaml:"stop"`
}

// Stop describes what `microk8s stop` does to running pods.
type Stop struct {
	// RemoveContainers: stop removes the pod containers with ctr, without a
	// CNI DEL, and start creates new sandboxes (1.32.2). When false, stop
	// leaves sandboxes and their rules in place and start reuses them (1.31.6).
	RemoveContainers bool `yaml:"remove_containers"`
	// FlushChains lists nat chains stop flushes (the 1.32.3 fix flushes
	// CNI-HOSTPORT-DNAT).
	FlushChains []string `yaml:"flush_chains"`
}

// CNI is the pod network.
type CNI struct {
	// Name is the CNI flavour (flannel).
	Name string `yaml:"name"`
	// Network is the conflist name; portmap writes it into rule comments.
	Network string `yaml:"network"`
	// Subnet is the node's pod subnet handed to host-local.
	Subnet string `yaml:"subnet"`
	// PluginsVersion is the containernetworking/plugins release the
	// MicroK8s release bundles (vX.Y.Z; built into bin/cni/VERSION/ from
	// harness/cni/plugins-VERSION).
	PluginsVersion string `yaml:"plugins_version"`
	// HairpinMode is the bridge plugin's hairpinMode (default true, as
	// MicroK8s' flannel configures it): a pod reaching itself through a
	// Service or hostPort needs it.
	HairpinMode *bool `yaml:"hairpin_mode"`
	// MTU is the pods' interface MTU (bridge plugin's mtu, Calico's veth
	// MTU; 0: 1500).
	MTU int `yaml:"mtu"`
	// Backend is how nodes carry pod traffic to each other: vxlan (the
	// default of MicroK8s' flannel and Calico: flannel.1, VNI 1, UDP 8472 on
	// bridge nodes; vxlan.calico, VNI 4096, UDP 4789 on Calico nodes; MTU
	// 50 below the uplink's) or host-gw (routes via the other node).
	Backend string `yaml:"backend"`
	// NATPortRange is Calico's natPortRange (FelixConfiguration, env
	// FELIX_NATPORTRANGE): the source port range Felix's pod egress
	// MASQUERADE maps TCP and UDP into, e.g. "32768-65535" ("": Felix's
	// default, no range: the kernel picks from 1024-65535).
	NATPortRange string `yaml:"nat_port_range"`
}

// Hairpin reports the bridge plugin's hairpin mode (default true).
func (c CNI) Hairpin() bool { return c.HairpinMode == nil || *c.HairpinMode }

// KubeProxy configures kube-proxy.
type KubeProxy struct {
	// Mode is kube-proxy's proxy mode: iptables (the default) or nftables
	// (its nftables Proxier, where microk8s.kubernetes has it: v1.29 and
	// v1.30 with the NFTablesProxyMode feature gate, which the lab passes
	// as a user must; v1.31 and later by default). ipvs is not built.
	Mode string `yaml:"mode"`
}

// Iptables says which iptables variant the node's components use.
type Iptables struct {
	// Mode is legacy or nft.
	Mode string `yaml:"mode"`
	// HostForwardPolicy is the FORWARD policy the host's own tooling set
	// before MicroK8s started, per variant ("legacy", "nft"), e.g.
	// {nft: DROP} for a host whose Docker set iptables-nft's FORWARD policy
	// to DROP while MicroK8s' bundled iptables-legacy accepts pod traffic.
	// A variant not listed keeps the kernel's default (ACCEPT).
	HostForwardPolicy map[string]string `yaml:"host_forward_policy"`
}

// Kernel is a kernel profile: the release it stands for and the netfilter
// extensions it lacks. The lab hides those from every iptables process it
// runs on the node (harness/kernel), so iptables prints the kernel's own
// "missing kernel module?" warning and the commit fails.
type Kernel struct {
	// Release is the kernel release string the profile stands for.
	Release string `yaml:"release"`
	// Missing lists absent extensions per family, by kernel name.
	Missing struct {
		IPv4 Extensions `yaml:"ipv4"`
		IPv6 Extensions `yaml:"ipv6"`
	} `yaml:"missing"`
	// Notes say where the list comes from (a published kernel config).
	Notes string `yaml:"notes"`
}

// Extensions are netfilter matches and targets by kernel name (MARK,
// recent, comment).
type Extensions struct {
	Matches []string `yaml:"matches"`
	Targets []string `yaml:"targets"`
}

// Hidden returns the missing extensions as kernel.Hidden values.
func (k Kernel) Hidden() []kernel.Hidden {
	var out []kernel.Hidden
	for _, f := range []struct {
		fam string
		ext Extensions
	}{{"ipv4", k.Missing.IPv4}, {"ipv6", k.Missing.IPv6}} {
		for _, m := range f.ext.Matches {
			out = append(out, kernel.Hidden{Family: f.fam, Kind: "match", Name: m})
		}
		for _, t := range f.ext.Targets {
			out = append(out, kernel.Hidden{Family: f.fam, Kind: "target", Name: t})
		}
	}
	return out
}

// Firewalld configures the node's firewalld.
type Firewalld struct {
	Enabled     bool   `yaml:"enabled"`
	DefaultZone string `yaml:"default_zone"`
	Backend     string `yaml:"backend"`
}

// ProviderFirewall is a stateless firewall of the hosting provider.
type ProviderFirewall struct {
	// Name says which provider's firewall this stands for.
	Name string `yaml:"name"`
	// TCPAckPorts is the destination port range ("32768-65535") inbound TCP
	// packets with ACK set may have; anything else towards the node drops.
	TCPAckPorts string `yaml:"tcp_ack_ports"`
	// UDPPorts is the destination port range inbound UDP packets may have
	// ("32768-65535": UDP answers to the node's ephemeral ports); anything
	// else towards the node drops. Empty: UDP is not filtered.
	UDPPorts string `yaml:"udp_ports"`
}

// semverRE is a release tag: vMAJOR.MINOR.PATCH.
var semverRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)

// NotFoundError is returned for an unknown profile name.
type NotFoundError struct {
	Name  string
	Valid []string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("unknown profile %q; valid profiles: %s", e.Name, strings.Join(e.Valid, ", "))
}

// Names lists the profiles in dir (base names of *.yaml), sorted.
func Names(dir string) ([]string, error) { return locate.BaseNames(dir, ".yaml") }

// ValidName reports why name cannot be a profile name ("" when it can): a
// profile is a file directly in images/, so its name is one path element of
// letters, digits, '.', '_' and '-', not starting with '.' or '-'.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("empty profile name")
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || (i > 0 && (r == '.' || r == '-'))
		if !ok {
			return fmt.Errorf("bad profile name %q: use the base name of a file in images/ (letters, digits, '.', '_', '-'), not a path", name)
		}
	}
	return nil
}

// Load reads the named profile from dir, resolving `extends:`.
func Load(dir, name string) (*Profile, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	merged, err := loadMerged(dir, name, nil)
	if err != nil {
		return nil, err
	}
	data, err := yaml.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	var p Profile
	if err := decodeStrict(data, &p); err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	p.Name = name
	p.File = filepath.Join(dir, name+".yaml")
	p.defaults()
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", p.File, err)
	}
	if err := checkImage(dir, p.Image); err != nil {
		return nil, fmt.Errorf("%s: %w", p.File, err)
	}
	return &p, nil
}

// RecipesDir is where the node image recipes of the profiles in dir are.
func RecipesDir(dir string) string { return filepath.Join(dir, "recipes") }

// checkImage checks that a profile's image names a recipe.
func checkImage(dir, name string) error {
	if name == "" {
		return nil
	}
	names, err := image.Names(RecipesDir(dir))
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == name {
			return nil
		}
	}
	return fmt.Errorf("image: unknown image %q; recipes in %s: %s", name, RecipesDir(dir), strings.Join(names, ", "))
}

func (p *Profile) defaults() {
	if p.CNI.Name == "" {
		p.CNI.Name = "flannel"
	}
	if p.CNI.Network == "" {
		p.CNI.Network = "microk8s-flannel-network"
	}
	if p.CNI.Subnet == "" {
		p.CNI.Subnet = "10.1.84.0/24"
	}
	if p.Iptables.Mode == "" {
		p.Iptables.Mode = "legacy"
		if p.Sources["iptables_mode"] == "" {
			if p.Sources == nil {
				p.Sources = map[string]string{}
			}
			p.Sources["iptables_mode"] = DefaultIptablesModeSource
		}
	}
	if p.CNI.Backend == "" {
		p.CNI.Backend = "vxlan"
	}
	if p.KubeProxy.Mode == "" {
		p.KubeProxy.Mode = "iptables"
	}
	if p.Driver == "" {
		p.Driver = DriverSim
	}
}

func (p *Profile) validate() error {
	if err := checkMode(p.Iptables.Mode); err != nil {
		return fmt.Errorf("iptables.mode: %w", err)
	}
	for v, pol := range p.Iptables.HostForwardPolicy {
		if err := checkVariant(v); err != nil {
			return fmt.Errorf("iptables.host_forward_policy: %w", err)
		}
		if err := checkPolicy(pol); err != nil {
			return fmt.Errorf("iptables.host_forward_policy: %s: %w", v, err)
		}
	}
	for _, h := range p.Kernel.Hidden() {
		if err := h.Validate(); err != nil {
			return fmt.Errorf("kernel.missing: %w", err)
		}
	}
	for field, v := range map[string]string{"microk8s.kubernetes": p.MicroK8s.Kubernetes, "cni.plugins_version": p.CNI.PluginsVersion} {
		if v != "" && !semverRE.MatchString(v) {
			return fmt.Errorf("%s: %q is not a release like v1.32.2", field, v)
		}
	}
	if err := checkCIDR(p.CNI.Subnet); err != nil {
		return fmt.Errorf("cni.subnet: %w", err)
	}
	for field, c := range map[string]struct {
		v     string
		check fieldCheck
	}{
		"provider_firewall.tcp_ack_ports": {p.ProviderFirewall.TCPAckPorts, checkAckPorts},
		"cni.nat_port_range":              {p.CNI.NATPortRange, checkAckPorts},
		"provider_firewall.udp_ports":     {p.ProviderFirewall.UDPPorts, checkAckPorts},
		"firewalld.backend":               {p.Firewalld.Backend, checkBackend},
		"firewalld.default_zone":          {p.Firewalld.DefaultZone, checkZone},
	} {
		if c.v != "" {
			if err := c.check(c.v); err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
		}
	}
	if err := p.validateNetwork(); err != nil {
		return err
	}
	if err := p.validateSources(); err != nil {
		return err
	}
	if err := p.validateVM(); err != nil {
		return err
	}
	for _, ch := range p.MicroK8s.Stop.FlushChains {
		if err := checkChain(ch); err != nil {
			return fmt.Errorf("microk8s.stop.flush_chains: %w", err)
		}
	}
	return nil
}

// loadMerged returns the generic YAML map of name with its extends merged
// underneath. seen detects cycles.
func loadMerged(dir, name string, seen []string) (map[string]any, error) {
	for _, s := range seen {
		if s == name {
			return nil, fmt.Errorf("profile %s: extends cycle: %s -> %s", seen[0], strings.Join(seen, " -> "), name)
		}
	}
	if err := ValidName(name); err != nil {
		if len(seen) > 0 {
			return nil, fmt.Errorf("profile %s: extends: %w", seen[len(seen)-1], err)
		}
		return nil, err
	}
	path := filepath.Join(dir, name+".yaml")
	data, err := inputfile.Text(path, MaxFileSize)
	if errors.Is(err, os.ErrNotExist) {
		valid, _ := Names(dir)
		nf := &NotFoundError{Name: name, Valid: valid}
		if len(seen) > 0 {
			return nil, fmt.Errorf("profile %s extends: %w", seen[len(seen)-1], nf)
		}
		return nil, nf
	}
	if err != nil {
		return nil, fmt.Errorf("read profile: %w", err)
	}
	if err := checkDocument(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Validate this file alone first, so errors carry its own line numbers.
	var p Profile
	if err := decodeStrict(data, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.Name != "" && p.Name != name {
		return nil, fmt.Errorf("%s: name %q does not match the file name %q", path, p.Name, name)
	}
	var own map[string]any
	if err := yaml.Unmarshal(data, &own); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if own == nil {
		own = map[string]any{}
	}
	base := map[string]any{}
	for _, parent := range p.Extends {
		pm, err := loadMerged(dir, parent, append(seen, name))
		if err != nil {
			return nil, err
		}
		base = merge(base, pm)
	}
	delete(base, "name")
	delete(base, "description")
	return merge(base, own), nil
}

// merge returns base overridden by over; maps merge key by key, any other
// value (lists included) is replaced.
func merge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		bm, ok1 := out[k].(map[string]any)
		om, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			out[k] = merge(bm, om)
		} else {
			out[k] = v
		}
	}
	return out
}

func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

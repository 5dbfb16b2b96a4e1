package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"lab/harness/kubeproxy"
)

// The network fields of a profile: sysctls, MTUs, kube-proxy's mode. Their
// checks serve both Load (validate) and `lab check` (fieldChecks).

var sysctlKeyRE = regexp.MustCompile(`^net\.[A-Za-z0-9_.\-]+$`)

// SysctlPath turns a dotted sysctl key into its path under /proc/sys
// (net.ipv4.ip_forward -> net/ipv4/ip_forward).
func SysctlPath(key string) string { return strings.ReplaceAll(key, ".", "/") }

func checkSysctlKey(k string) error {
	if !sysctlKeyRE.MatchString(k) {
		return fmt.Errorf("%q: the lab sets only network-namespace sysctls, dotted net.* keys (e.g. net.ipv4.conf.all.rp_filter)", k)
	}
	return nil
}

// checkSysctlKnown also checks that this host's kernel has the key.
func checkSysctlKnown(k string) error {
	if err := checkSysctlKey(k); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join("/proc/sys", SysctlPath(k))); err != nil {
		return fmt.Errorf("%q: no such sysctl on this host's kernel (/proc/sys/%s); check the spelling", k, SysctlPath(k))
	}
	return nil
}

func checkSysctlValue(v string) error {
	if strings.TrimSpace(v) == "" || strings.ContainsAny(v, "\n") {
		return fmt.Errorf("value %q: want one line, e.g. \"1\" or \"32768 60999\"", v)
	}
	return nil
}

func checkMTU(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || (n != 0 && (n < 576 || n > 65535)) {
		return fmt.Errorf("%q is not an MTU (576-65535; 0 or absent: 1500)", v)
	}
	return nil
}

func checkProxyMode(v string) error {
	switch v {
	case kubeproxy.ModeIPTables, kubeproxy.ModeNFTables:
		return nil
	case "ipvs":
		return fmt.Errorf("%q: the lab builds kube-proxy's iptables and nftables Proxiers only; use iptables or nftables", v)
	}
	return fmt.Errorf("%q is not a kube-proxy mode; use iptables or nftables", v)
}

func (p *Profile) validateNetwork() error {
	for k, v := range p.Sysctls {
		if err := checkSysctlKey(k); err != nil {
			return fmt.Errorf("sysctls: %w", err)
		}
		if err := checkSysctlValue(v); err != nil {
			return fmt.Errorf("sysctls: %s: %w", k, err)
		}
	}
	for field, v := range map[string]int{"uplink_mtu": p.UplinkMTU, "cni.mtu": p.CNI.MTU} {
		if v != 0 {
			if err := checkMTU(strconv.Itoa(v)); err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
		}
	}
	if err := checkFlannelBackend(p.CNI.Backend); err != nil {
		return fmt.Errorf("cni.backend: %w", err)
	}
	if err := checkProxyMode(p.KubeProxy.Mode); err != nil {
		return fmt.Errorf("kube_proxy.mode: %w", err)
	}
	// the mode must exist in the pinned release's kube-proxy
	if _, err := kubeproxy.ModeArgs(p.KubeProxy.Mode, p.MicroK8s.Kubernetes); err != nil {
		return fmt.Errorf("kube_proxy.mode: %w", err)
	}
	return nil
}

func checkFlannelBackend(v string) error {
	if v != "vxlan" && v != "host-gw" {
		return fmt.Errorf("%q is not a flannel backend the lab builds; use vxlan or host-gw", v)
	}
	return nil
}

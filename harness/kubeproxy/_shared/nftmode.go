package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"unsafe"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/proxy/metaproxier"
	"k8s.io/kubernetes/pkg/proxy/nftables"
	netutils "k8s.io/utils/net"
)

// nftProviders builds one nftables Proxier per family of o with the
// version's constructor mk (given the family's node IP, nil when none),
// observes each (observeNFT) and joins two under the meta proxier, as the
// version's NewDualStackProxier does.
func nftProviders(o options, st *status, mk func(fam v1.IPFamily, nodeIP net.IP) (*nftables.Proxier, error)) (provider, error) {
	var ps []*nftables.Proxier
	for _, fam := range o.families {
		var nodeIP net.IP
		for _, s := range o.nodeIPs {
			if ip := netutils.ParseIPSloppy(s); ip != nil && netutils.IsIPv6(ip) == (fam == v1.IPv6Protocol) {
				nodeIP = ip
			}
		}
		p, err := mk(fam, nodeIP)
		if err != nil {
			return nil, fmt.Errorf("unable to create %s proxier: %w", fam, err)
		}
		if err := observeNFT(p, fam, st, o.dump); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if len(ps) == 2 {
		return metaproxier.NewMetaProxier(ps[0], ps[1]), nil
	}
	return ps[0], nil
}

// checkMode applies --feature-gates and refuses a --proxy-mode the
// version's kube-proxy refuses, with the message of its configuration
// validation (pkg/proxy/apis/config/validation validateProxyModeLinux):
// nftables is a valid mode only while the NFTablesProxyMode gate is on
// (alpha, off by default, in v1.29 and v1.30; beta, on, from v1.31). ipvs is
// valid for kube-proxy but not built here.
func checkMode(o options) error {
	if o.gates != "" {
		if err := utilfeature.DefaultMutableFeatureGate.Set(o.gates); err != nil {
			return fmt.Errorf("--feature-gates: %w", err)
		}
	}
	nft := utilfeature.DefaultFeatureGate.Enabled(features.NFTablesProxyMode)
	klog.InfoS("Feature gate", "NFTablesProxyMode", nft)
	switch o.mode {
	case "iptables":
		return nil
	case "nftables":
		if nft {
			return nil
		}
		return field.Invalid(field.NewPath("KubeProxyConfiguration").Child("ProxyMode"), o.mode,
			"must be iptables, ipvs or blank (blank means the best-available proxy [currently iptables])")
	case "ipvs":
		return fmt.Errorf("--proxy-mode ipvs: the lab builds kube-proxy's iptables and nftables Proxiers only")
	}
	return fmt.Errorf("--proxy-mode %q: want iptables or nftables", o.mode)
}

// observedNFT is the knftables interface the nftables Proxier made for
// itself (its nftables field), with every sync's outcome reported: a sync
// ends in one transaction run by nft; the Proxier's other transactions
// (deleting stale chains a while after a sync) only delete.
type observedNFT struct {
	nftInterface
	fam  v1.IPFamily
	st   *status
	dump string // when set, every sync's transaction is written to dump+"/nft-"+family
}

// Run runs the transaction with the node's nft and reports a sync.
func (o observedNFT) Run(ctx context.Context, tx *nftTransaction) error {
	text := tx.String()
	sync := false
	for _, l := range strings.Split(text, "\n") {
		if l != "" && !strings.HasPrefix(l, "delete ") {
			sync = true
		}
	}
	if sync && o.dump != "" {
		if err := os.WriteFile(filepath.Join(o.dump, "nft-"+string(o.fam)), []byte(text), 0o644); err != nil {
			klog.ErrorS(err, "lab: writing the nft transaction")
		}
	}
	err := o.nftInterface.Run(ctx, tx)
	if sync {
		o.st.report(o.fam, err)
	}
	return err
}

// observeNFT replaces the Proxier's own knftables interface (the unexported
// field nftables of *nftables.Proxier, which NewProxier makes with
// knftables.New and the node's nft) by observedNFT wrapping it. The
// Proxier offers no other hook; the transactions, nft and its errors stay
// the Proxier's own.
func observeNFT(proxier any, fam v1.IPFamily, st *status, dump string) error {
	v := reflect.ValueOf(proxier)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("lab: %T is not a Proxier", proxier)
	}
	f := v.Elem().FieldByName("nftables")
	if !f.IsValid() || f.Type() != reflect.TypeOf((*nftInterface)(nil)).Elem() {
		return fmt.Errorf("lab: %T has no nftables field of type %v", proxier, reflect.TypeOf((*nftInterface)(nil)).Elem())
	}
	ptr := (*nftInterface)(unsafe.Pointer(f.UnsafeAddr()))
	*ptr = observedNFT{nftInterface: *ptr, fam: fam, st: st, dump: dump}
	return nil
}

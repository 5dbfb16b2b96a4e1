// Command kube-proxy runs Kubernetes' own iptables Proxier
// (k8s.io/kubernetes/pkg/proxy/iptables), or with --proxy-mode nftables its
// nftables Proxier (pkg/proxy/nftables), of one Kubernetes version without an
// API server: the Service and EndpointSlice objects come from a JSON file
// ({"services": [...], "endpointSlices": [...]}, the API's own JSON), which is
// re-read when it changes or on SIGHUP. Everything else is the real daemon's:
// NewProxier (or the dual-stack meta proxier), its SyncLoop with the sync
// period and min-sync-period, its canary monitor, retries and partial syncs,
// the iptables/ip6tables binaries first in PATH, and klog on stderr.
//
// The lab's own additions: one JSON line on stdout per sync attempt
// ({"family","sync","ok","error"}), and with --control-stdin two lines read
// on stdin, "pause" (a flush the canary monitor detects is acted on only
// after "resume": the window between a flush and the re-sync, up to the
// sync period in a real cluster, stays open as long as a step observes it)
// and "resume", and "reload" (re-read the file now, then print
// {"applied":N}: every sync line after it includes the change); the end of
// stdin ends the process. With
// --once it runs one sync (what the daemon does on start) and exits 1 with
// iptables' own error text when it failed.
//
// This file is shared by every per-version module (harness/kubeproxy/k8s-v*
// link to it); the version's constructor is in its own proxier.go.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/klog/v2"
)

// options are the command's flags, named as kube-proxy's own.
type options struct {
	services      string
	families      []v1.IPFamily
	clusterCIDRs  []string
	hostname      string
	nodeIPs       []string
	syncPeriod    time.Duration
	minSyncPeriod time.Duration
	masqBit       int
	masqAll       bool
	once          bool
	dump          string
	control       bool
	// mode is --proxy-mode: iptables (the default) or nftables.
	mode string
	// gates is --feature-gates (e.g. NFTablesProxyMode=true, which the
	// nftables mode needs where it is alpha: Kubernetes v1.29 and v1.30).
	gates string
}

// provider is what both the single-stack Proxier and the meta proxier offer.
type provider interface {
	OnServiceAdd(*v1.Service)
	OnServiceUpdate(oldService, service *v1.Service)
	OnServiceDelete(*v1.Service)
	OnServiceSynced()
	OnEndpointSliceAdd(*discovery.EndpointSlice)
	OnEndpointSliceUpdate(oldSlice, slice *discovery.EndpointSlice)
	OnEndpointSliceDelete(*discovery.EndpointSlice)
	OnEndpointSlicesSynced()
	SyncLoop()
}

// objects is the input file.
type objects struct {
	Services       []*v1.Service              `json:"services"`
	EndpointSlices []*discovery.EndpointSlice `json:"endpointSlices"`
}

func main() {
	o := parseFlags()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func parseFlags() options {
	var o options
	fs := flag.NewFlagSet("kube-proxy", flag.ExitOnError)
	klog.InitFlags(fs)
	fs.StringVar(&o.services, "services", "", "JSON file with the Service and EndpointSlice objects")
	fam := fs.String("ip-family", "ipv4", "ipv4, ipv6 or dual (the meta proxier)")
	cidr := fs.String("cluster-cidr", "10.1.0.0/16", "pod CIDR(s), comma separated (detect-local-mode ClusterCIDR)")
	fs.StringVar(&o.hostname, "hostname-override", "node1", "the node's name")
	nodeIP := fs.String("node-ip", "", "the node's IP(s), comma separated")
	fs.DurationVar(&o.syncPeriod, "iptables-sync-period", 30*time.Second, "kube-proxy's --iptables-sync-period (default as kube-proxy's)")
	fs.DurationVar(&o.minSyncPeriod, "iptables-min-sync-period", time.Second, "kube-proxy's --iptables-min-sync-period (default as kube-proxy's)")
	fs.IntVar(&o.masqBit, "iptables-masquerade-bit", 14, "kube-proxy's --iptables-masquerade-bit")
	fs.BoolVar(&o.masqAll, "masquerade-all", false, "kube-proxy's --masquerade-all")
	fs.BoolVar(&o.once, "once", false, "run one sync and exit (1 and iptables' error when it failed)")
	fs.StringVar(&o.dump, "dump-restore", "", "directory where every iptables-restore input is written (restore-IPv4, restore-IPv6)")
	fs.BoolVar(&o.control, "control-stdin", false, "read pause/resume lines on stdin; exit at its end")
	fs.StringVar(&o.mode, "proxy-mode", "iptables", "kube-proxy's --proxy-mode: iptables or nftables")
	fs.StringVar(&o.gates, "feature-gates", "", "kube-proxy's --feature-gates (key=value pairs, comma separated)")
	showVersion := fs.Bool("version", false, "print the Kubernetes version and exit")
	_ = fs.Set("logtostderr", "true")
	_ = fs.Parse(os.Args[1:])
	if *showVersion {
		fmt.Println("Kubernetes " + version)
		os.Exit(0)
	}
	switch *fam {
	case "ipv4":
		o.families = []v1.IPFamily{v1.IPv4Protocol}
	case "ipv6":
		o.families = []v1.IPFamily{v1.IPv6Protocol}
	case "dual":
		o.families = []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol}
	default:
		klog.Fatalf("--ip-family %q: want ipv4, ipv6 or dual", *fam)
	}
	o.clusterCIDRs = splitList(*cidr)
	o.nodeIPs = splitList(*nodeIP)
	if o.services == "" {
		klog.Fatal("--services FILE is required")
	}
	return o
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func readObjects(path string) (objects, error) {
	var obj objects
	b, err := os.ReadFile(path)
	if err != nil {
		return obj, err
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return obj, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}

func run(o options) error {
	ctx := context.Background()
	st := newStatus(os.Stdout)
	klog.InfoS("Kubernetes Proxier without an API server", "version", version, "mode", o.mode, "families", o.families,
		"syncPeriod", o.syncPeriod, "minSyncPeriod", o.minSyncPeriod, "clusterCIDRs", o.clusterCIDRs, "once", o.once)
	if err := checkMode(o); err != nil {
		return err
	}
	var p provider
	var err error
	if o.mode == "nftables" {
		p, err = newNFTProvider(ctx, o, st)
	} else {
		p, err = newProvider(ctx, o, st)
	}
	if err != nil {
		return err
	}
	obj, err := readObjects(o.services)
	if err != nil {
		return err
	}
	f := feeder{p: p, svcs: map[string]*v1.Service{}, slices: map[string]*discovery.EndpointSlice{}, locks: proxierLocks(p)}
	f.apply(obj)
	// As the informers do: every object first, then the synced signals,
	// which run the first (full) sync synchronously.
	p.OnServiceSynced()
	p.OnEndpointSlicesSynced()
	if o.once {
		if err := st.firstErr(); err != nil {
			return err
		}
		return nil
	}
	go p.SyncLoop()
	if o.control {
		go func() {
			st.control(os.Stdin, func() {
				if err := f.reload(o.services, st); err != nil {
					klog.ErrorS(err, "Reading the Service and EndpointSlice file")
				}
			})
			klog.InfoS("Exiting: end of standard input")
			klog.Flush()
			os.Exit(0)
		}()
	}
	return f.watch(o.services, !o.control)
}

// feeder turns the file's objects into the informer events a Proxier gets.
type feeder struct {
	p      provider
	svcs   map[string]*v1.Service
	slices map[string]*discovery.EndpointSlice
	// locks are the Proxiers' own mutexes (proxierLocks), which a sync
	// holds from start to end; mu serialises reloads.
	locks []*sync.Mutex
	mu    sync.Mutex
}

// reload re-reads the file and hands its changes to the Proxier while no
// sync runs (holding the Proxiers' own locks: their event handlers take
// none), then prints the applied line: a sync reported after that line
// started after the change, so it includes it.
func (f *feeder) reload(path string, st *status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj, err := readObjects(path)
	if err != nil {
		return err
	}
	for _, l := range f.locks {
		l.Lock()
	}
	f.apply(obj)
	st.applied()
	for _, l := range f.locks {
		l.Unlock()
	}
	return nil
}

func key(ns, name string) string { return ns + "/" + name }

// apply hands the differences between the file's objects and the last
// ones to the Proxier as informer events.
func (f *feeder) apply(obj objects) {
	syncObjects(f.svcs, obj.Services, func(s *v1.Service) string { return key(s.Namespace, s.Name) },
		f.p.OnServiceAdd, f.p.OnServiceUpdate, f.p.OnServiceDelete)
	syncObjects(f.slices, obj.EndpointSlices, func(s *discovery.EndpointSlice) string { return key(s.Namespace, s.Name) },
		f.p.OnEndpointSliceAdd, f.p.OnEndpointSliceUpdate, f.p.OnEndpointSliceDelete)
}

// syncObjects makes have (by key) equal to want, calling add, update and del for
// each object added, changed or gone, as an informer does.
func syncObjects[T any](have map[string]T, want []T, keyOf func(T) string, add func(T), update func(old, cur T), del func(T)) {
	seen := map[string]bool{}
	for _, o := range want {
		k := keyOf(o)
		seen[k] = true
		switch old, ok := have[k]; {
		case !ok:
			add(o)
		case !reflect.DeepEqual(old, o):
			update(old, o)
		}
		have[k] = o
	}
	for k, o := range have {
		if !seen[k] {
			del(o)
			delete(have, k)
		}
	}
}

// watch re-reads the file on SIGHUP and, when poll is set, when its
// modification time or size changes (with --control-stdin, "reload" does
// it instead), and returns on SIGTERM or SIGINT.
func (f *feeder) watch(path string, poll bool) error {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	stamp := func() string {
		fi, err := os.Stat(path)
		if err != nil {
			return ""
		}
		return fmt.Sprint(fi.ModTime().UnixNano(), fi.Size())
	}
	last := stamp()
	var tick <-chan time.Time // nil without poll: only SIGHUP re-reads
	if poll {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case s := <-sig:
			if s != syscall.SIGHUP {
				klog.InfoS("Exiting", "signal", s.String())
				return nil
			}
		case <-tick:
			if stamp() == last {
				continue
			}
		}
		last = stamp()
		f.mu.Lock()
		obj, err := readObjects(path)
		if err == nil {
			f.apply(obj)
		}
		f.mu.Unlock()
		if err != nil {
			klog.ErrorS(err, "Reading the Service and EndpointSlice file")
		}
	}
}

// control reads "pause", "resume" and "reload" lines.
func (s *status) control(in *os.File, reload func()) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case "pause":
			s.setPaused(true)
		case "resume":
			s.setPaused(false)
		case "reload":
			reload()
		}
	}
}

// proxierLocks finds the mutex each Proxier holds for a whole sync (the
// iptables and nftables Proxiers' unexported mu), through the dual-stack
// meta proxier's two; none when the layout is not the expected one (a
// reload then cannot wait for a running sync, which the log says).
func proxierLocks(p any) []*sync.Mutex {
	v := reflect.ValueOf(p)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	v = v.Elem()
	if f := v.FieldByName("mu"); f.IsValid() && f.Type() == reflect.TypeOf(sync.Mutex{}) {
		return []*sync.Mutex{(*sync.Mutex)(unsafe.Pointer(f.UnsafeAddr()))}
	}
	var out []*sync.Mutex
	for _, name := range []string{"ipv4Proxier", "ipv6Proxier"} {
		f := v.FieldByName(name)
		if !f.IsValid() {
			continue
		}
		inner := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface()
		out = append(out, proxierLocks(inner)...)
	}
	if len(out) == 0 {
		klog.InfoS("lab: no Proxier lock found; a reload does not wait for a running sync", "type", fmt.Sprintf("%T", p))
	}
	return out
}

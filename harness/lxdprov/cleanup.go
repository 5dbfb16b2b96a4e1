package lxdprov

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// ownedBy says whether a resource whose user.lab.prefix is cfg belongs to
// prefix: cfg starts with it, or prefix is cfg and a dash (runner.Clean
// asks for a cell's resources as "lab-XXXXXX-N-", which its instances and
// networks record as "lab-XXXXXX-N").
func ownedBy(cfg, prefix string) bool {
	return cfg != "" && (strings.HasPrefix(cfg, prefix) || strings.HasPrefix(cfg+"-", prefix))
}

// owned lists the instances and networks of prefix.
func owned(c lxd.InstanceServer, prefix string) (instances, networks []string, err error) {
	insts, err := c.GetInstances(api.InstanceTypeAny)
	if err != nil {
		return nil, nil, err
	}
	for _, i := range insts {
		if strings.HasPrefix(i.Name, prefix) && ownedBy(i.Config["user.lab.prefix"], prefix) {
			instances = append(instances, i.Name)
		}
	}
	nets, err := c.GetNetworks()
	if err != nil {
		return nil, nil, err
	}
	for _, n := range nets {
		if n.Managed && ownedBy(n.Config["user.lab.prefix"], prefix) {
			networks = append(networks, n.Name)
		}
	}
	sort.Strings(instances)
	sort.Strings(networks)
	return instances, networks, nil
}

// Leftovers lists the instances (with their snapshots) and networks that
// carry prefix.
func (p *Provider) Leftovers(ctx context.Context, prefix string) ([]string, error) {
	if prefix == "" {
		return nil, errors.New("lxd: empty prefix")
	}
	c, err := p.client(ctx)
	if err != nil {
		return nil, err
	}
	insts, nets, err := owned(c, prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, i := range insts {
		out = append(out, "instance "+i)
		if snaps, err := c.GetInstanceSnapshotNames(i); err == nil {
			for _, s := range snaps {
				out = append(out, "snapshot "+i+"/"+s)
			}
		}
	}
	for _, n := range nets {
		net, _, err := c.GetNetwork(n)
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("network %s (%s)", n, net.Config["user.lab.prefix"]))
	}
	return out, nil
}

// Remove deletes the instances (with their snapshots), then the networks,
// that carry prefix; nothing else.
func (p *Provider) Remove(ctx context.Context, prefix string) error {
	if prefix == "" {
		return errors.New("lxd: empty prefix")
	}
	c, err := p.client(ctx)
	if err != nil {
		return err
	}
	insts, nets, err := owned(c, prefix)
	if err != nil {
		return err
	}
	return removeAll(c, insts, nets)
}

// removeAll deletes instances in parallel, then networks.
func removeAll(c lxd.InstanceServer, insts, nets []string) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, i := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := deleteInstance(c, i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, n := range nets {
		if err := c.DeleteNetwork(n); err != nil && !api.StatusErrorCheck(err, 404) {
			errs = append(errs, fmt.Errorf("lxd: delete network %s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

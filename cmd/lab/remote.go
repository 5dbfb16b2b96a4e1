package main

import (
	"context"
	"fmt"
	"io"

	"lab/harness/lxdprov"
	"lab/harness/provider"
)

// The --remote flag of run, matrix and clean: the lxd provider drives the
// LXD remote NAME of LXD's own client configuration (lxdprov.LoadRemote:
// $LXD_CONF, the snap's or Debian's lxc config.yml, /etc/lxd) instead of
// the local daemon. On a remote that is a cluster, cells are placed on its
// members and -j applies per member.

// remoteHelp is the flag's usage text.
const remoteHelp = "with --provider lxd: drive the LXD remote NAME of lxc's own config.yml ($LXD_CONF, ~/snap/lxd/common/config, ~/.config/lxc, /etc/lxd); on a cluster, cells are spread over its members and -j applies per member"

// remoteProviders returns the providers named by names, the lxd one on
// the remote when remote is set. A remote with any provider but lxd alone,
// or one no configuration defines, is bad input.
func remoteProviders(names []string, remote string) ([]provider.Provider, error) {
	if remote != "" && (len(names) != 1 || names[0] != "lxd") {
		return nil, usagef("--remote %s applies to the lxd provider alone (got --provider %v); run with --provider lxd --remote %s", remote, names, remote)
	}
	var provs []provider.Provider
	for _, name := range names {
		if remote == "" {
			p, err := providerByName(name)
			if err != nil {
				return nil, err
			}
			provs = append(provs, p)
			continue
		}
		r, err := lxdprov.LoadRemote(remote, nil)
		if err != nil {
			return nil, usagef("--remote: %v", err)
		}
		provs = append(provs, lxdprov.NewOn(r))
	}
	return provs, nil
}

// perMember returns how many cells run at once: -j times the members of
// an lxd cluster remote the cells are spread over (after the preflight
// connected), else -j.
func perMember(ctx context.Context, provs []provider.Provider, jobs int, stdout io.Writer) (int, error) {
	for _, p := range provs {
		lp, ok := p.(*lxdprov.Provider)
		if !ok {
			continue
		}
		ms, err := lp.Members(ctx)
		if err != nil {
			return 0, usagef("%v", err)
		}
		if len(ms) > 1 {
			fmt.Fprintf(stdout, "lxd cluster: cells placed on %d members %v, -j %d each\n", len(ms), ms, jobs)
			return jobs * len(ms), nil
		}
	}
	return jobs, nil
}

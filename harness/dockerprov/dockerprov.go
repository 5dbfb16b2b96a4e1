// Package dockerprov is the docker provider: every node is a container of
// the profile's node image (images/recipes, imported into the local engine
// with `docker import`, never pulled) created through testcontainers-go,
// commands are docker execs, and the networks of a cell are bridges in a
// per-cell fabric namespace wired into the containers (see net.go for why
// not docker networks). The engine refuses --privileged: nodes get
// NET_ADMIN and SYS_ADMIN, no masked or read-only /proc paths (sysctls are
// writable), IPv6 on, and the engine's init as PID 1. Testcontainers' Ryuk
// reaper is off (its image cannot be pulled): every container carries the
// label lab.prefix and a name starting with the cell's prefix, the fabric
// namespace is named after the prefix, and Remove sweeps by them.
package dockerprov

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"lab/harness/image"
	"lab/harness/locate"
	"lab/harness/netns"
	"lab/harness/provider"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Labels every container and network of the lab carries.
const (
	LabelPrefix      = "lab.prefix"      // the cell's prefix
	LabelNode        = "lab.node"        // the node's name in the feature
	LabelImage       = "lab.image"       // the node image's name
	LabelFingerprint = "lab.fingerprint" // the node image's rootfs.tar digest
)

// Options locate the node images.
type Options struct {
	// ImagesRoot is the image store (default image.DefaultRoot).
	ImagesRoot string
	// RecipesDir holds the recipes (default images/recipes of the checkout).
	RecipesDir string
}

// New returns the docker provider with default options.
func New() provider.Provider { return NewWith(Options{}) }

// NewWith returns the docker provider. It turns testcontainers' Ryuk
// reaper off (TESTCONTAINERS_RYUK_DISABLED, read once by testcontainers)
// and silences its default logger, which writes to stderr.
func NewWith(o Options) provider.Provider {
	if o.ImagesRoot == "" {
		o.ImagesRoot = image.DefaultRoot
	}
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	tclog.SetDefault(tclog.NewNoopLogger())
	return &prov{opts: o}
}

type prov struct {
	opts Options

	mu  sync.Mutex
	cli *client.Client
}

func (*prov) Name() string { return "docker" }

// Userspace says what docker nodes run.
func (*prov) Userspace() string {
	return "containers of node images (the profile's image:, default " + DefaultImage +
		"; each host's image and fingerprint are under ran.HOST.image)"
}

func (p *prov) recipesDir() (string, error) {
	if p.opts.RecipesDir != "" {
		return p.opts.RecipesDir, nil
	}
	root, err := locate.Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "images", "recipes"), nil
}

// client returns the provider's engine client, connecting on first use.
func (p *prov) client(ctx context.Context) (*client.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cli != nil {
		return p.cli, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	dc, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	p.cli = dc.Client
	return p.cli, nil
}

// Check says whether a Docker engine answers here, and that the lab runs
// as root beside it (it wires networks into the containers' namespaces).
func (p *prov) Check(ctx context.Context) error {
	unavailable := func(why string) error { return &provider.UnavailableError{Provider: "docker", Reason: why} }
	if os.Geteuid() != 0 {
		return unavailable("needs root (it wires networks into the containers' network namespaces); run as root (sudo)")
	}
	cli, err := p.client(ctx)
	if err != nil {
		return unavailable(fmt.Sprintf("no Docker engine answers (%v); start dockerd or set DOCKER_HOST", err))
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{}); err != nil {
		return unavailable(fmt.Sprintf("the Docker engine does not answer: %v", err))
	}
	return nil
}

// NewEnv starts an environment whose nodes boot the default node image.
func (p *prov) NewEnv(ctx context.Context, prefix string) (provider.Env, error) {
	return p.NewImageEnv(ctx, prefix, "")
}

// NewImageEnv starts an environment whose nodes boot the node image name
// ("" for DefaultImage), importing it into the engine on first use.
func (p *prov) NewImageEnv(ctx context.Context, prefix, name string) (provider.Env, error) {
	cli, err := p.client(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	img, err := p.resolve(ctx, cli, name)
	if err != nil {
		return nil, err
	}
	return &env{cli: cli, prefix: prefix, img: img, nodes: map[string]*dkNode{}}, nil
}

// labelled lists the lab's containers whose prefix label starts with
// prefix.
func labelled(ctx context.Context, cli *client.Client, prefix string) ([]string, error) {
	f := make(client.Filters).Add("label", LabelPrefix)
	cl, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	var ctrs []string
	for _, c := range cl.Items {
		if strings.HasPrefix(c.Labels[LabelPrefix], prefix) && len(c.Names) > 0 {
			ctrs = append(ctrs, strings.TrimPrefix(c.Names[0], "/"))
		}
	}
	return ctrs, nil
}

// Leftovers lists the containers and fabric namespaces of prefix.
func (p *prov) Leftovers(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	if cli, err := p.client(ctx); err == nil { // no engine: no container of it
		ctrs, err := labelled(ctx, cli, prefix)
		if err != nil {
			return nil, err
		}
		for _, c := range ctrs {
			out = append(out, "container "+c)
		}
	}
	nss, err := fabrics(prefix)
	for _, n := range nss {
		out = append(out, "netns "+n)
	}
	return out, err
}

// Remove removes the containers and fabric namespaces of prefix (and only
// those: containers by label, namespaces by name).
func (p *prov) Remove(ctx context.Context, prefix string) error {
	var errs []error
	if cli, err := p.client(ctx); err == nil {
		ctrs, err := labelled(ctx, cli, prefix)
		if err != nil {
			return err
		}
		errs = append(errs, removeContainers(ctx, cli, ctrs)...)
	}
	nss, err := fabrics(prefix)
	errs = append(errs, err, deleteNamespaces(ctx, nss))
	return joinErrs(errs)
}

// fabrics lists the fabric namespaces whose names start with prefix.
func fabrics(prefix string) ([]string, error) {
	all, err := netns.List(prefix)
	var out []string
	for _, n := range all {
		if strings.HasSuffix(n, "-fabric") {
			out = append(out, n)
		}
	}
	return out, err
}

// Shell returns `docker exec -i CONTAINER` for node name of prefix.
func (p *prov) Shell(ctx context.Context, prefix, name string) ([]string, error) {
	cli, err := p.client(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	f := make(client.Filters).Add("label", LabelPrefix+"="+prefix, LabelNode+"="+name)
	cl, err := cli.ContainerList(ctx, client.ContainerListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	if len(cl.Items) == 0 || len(cl.Items[0].Names) == 0 {
		return nil, fmt.Errorf("docker: no running container of node %s in %s", name, prefix)
	}
	return []string{"docker", "exec", "-i", strings.TrimPrefix(cl.Items[0].Names[0], "/")}, nil
}

// removeContainers force-removes containers (the engine's init makes it
// quick), in parallel.
func removeContainers(ctx context.Context, cli *client.Client, ctrs []string) []error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := cli.ContainerRemove(ctx, c, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !isNotFound(err) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("docker: remove container %s: %w", c, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

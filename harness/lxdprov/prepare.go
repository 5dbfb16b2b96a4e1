package lxdprov

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"lab/harness/image"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
)

// AliasPrefix starts the alias of every node image the lab imports
// (lab-node/NAME-HASH12): the lab only ever touches images with it.
const AliasPrefix = "lab-node/"

// baseInfix follows the run's prefix in the name of a prepared (stopped)
// base instance of a node image (lab-XXXXXX-base-NAME-...): the cells of a
// run copy their nodes from its snapshot, and the base goes with the run
// (Provider.Shutdown; `lab clean` removes a dead run's).
const baseInfix = "-base-"

// baseSnapshot is the snapshot of a base that cells copy.
const baseSnapshot = "ready"

// initPath is the lab's init inside every node.
const initPath = "/sbin/lab-init"

// initScript is PID 1 of a node: private /run and /tmp (as on netns),
// loopback up, then a shell loop that reaps orphans (wait with no operand
// reaps any child) until the container is stopped.
const initScript = `#!/bin/sh
# lab node init (lab/harness/lxdprov): private /run and /tmp, lo up, reap orphans.
mount -t tmpfs -o mode=755 lab-run /run
mount -t tmpfs -o mode=1777 lab-tmp /tmp
mkdir -p /run/lock /run/netns
ip link set lo up 2>/dev/null
touch /run/.lab-node
trap 'exit 0' TERM INT PWR
while :; do sleep 3600 & wait; done
`

// nodeConfig is the LXD configuration of every node.
func nodeConfig() map[string]string {
	return map[string]string{
		"security.privileged": "true",
		"security.nesting":    "true",
		"raw.lxc":             "lxc.init.cmd = " + initPath,
	}
}

// baseName names the run's base of an image: it changes with the image,
// with what the lab puts into a base (init script, config) and with the
// cluster member it is placed on (each member copies its own base).
func baseName(run string, img *image.Image, target string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%v\n%s\n", img.Hash, initScript, nodeConfig(), target)
	return run + baseInfix + img.Name + "-" + img.Hash[:12] + "-" + hex.EncodeToString(h.Sum(nil))[:6]
}

// runOf returns the run's prefix (lab-XXXXXX) of a cell's prefix
// (lab-XXXXXX-N).
func runOf(prefix string) string {
	if i := strings.LastIndex(prefix, "-"); i > 0 {
		return prefix[:i]
	}
	return prefix
}

// resolveImage finds the built image of recipe name.
func resolveImage(recipes, root, name string) (*image.Image, error) {
	r, err := image.Load(recipes, name)
	if err != nil {
		return nil, err
	}
	store := &image.Store{Root: root}
	img, ok := store.Get(r)
	if !ok {
		return nil, fmt.Errorf("lxd: node image %s is not built in %s; run `lab images build %s` (or `make images`)", r.DirName(), root, name)
	}
	img.Dir = store.Dir(r)
	return img, nil
}

// metadataTar is the split image's metadata tarball (metadata.yaml).
func metadataTar(img *image.Image) ([]byte, error) {
	meta := fmt.Sprintf("architecture: x86_64\ncreation_date: %d\nproperties:\n  description: lab node image %s-%s\n  os: debian\n  release: %s\n",
		time.Now().Unix(), img.Name, img.Hash[:12], img.Suite)
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "metadata.yaml", Mode: 0o644, Size: int64(len(meta)), ModTime: time.Now()}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(meta)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ensureImage imports img (its zstd rootfs tarball when built, else the
// plain one) once and returns its fingerprint; the alias caches it.
func ensureImage(c lxd.InstanceServer, img *image.Image) (string, error) {
	alias := AliasPrefix + img.Name + "-" + img.Hash[:12]
	if a, _, err := c.GetImageAlias(alias); err == nil {
		return a.Target, nil
	}
	// One import at a time (cells placed on several members prepare their
	// bases at once; LXD refuses a second image with the same fingerprint).
	unlock, err := lockFile(strings.ReplaceAll(alias, "/", "-"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if a, _, err := c.GetImageAlias(alias); err == nil {
		return a.Target, nil
	}
	meta, err := metadataTar(img)
	if err != nil {
		return "", err
	}
	tarball := filepath.Join(img.Dir, "rootfs.tar")
	if img.TarballZstd != "" {
		tarball = filepath.Join(img.Dir, img.TarballZstd)
	}
	f, err := os.Open(tarball)
	if err != nil {
		return "", fmt.Errorf("lxd: import %s: %w", alias, err)
	}
	defer f.Close()
	op, err := c.CreateImage(api.ImagesPost{Filename: filepath.Base(tarball)}, &lxd.ImageCreateArgs{
		MetaFile: bytes.NewReader(meta), MetaName: "meta.tar", RootfsFile: f, RootfsName: filepath.Base(tarball),
	})
	if err == nil {
		err = op.Wait()
	}
	if err != nil {
		return "", fmt.Errorf("lxd: import %s from %s: %w", alias, tarball, err)
	}
	fp, _ := op.Get().Metadata["fingerprint"].(string)
	if fp == "" {
		return "", fmt.Errorf("lxd: import %s: no fingerprint in the answer", alias)
	}
	if err := c.CreateImageAlias(api.ImageAliasesPost{ImageAliasesEntry: api.ImageAliasesEntry{
		Name: alias, Target: fp, Description: "lab node image " + img.Name,
	}}); err != nil {
		if a, _, gerr := c.GetImageAlias(alias); gerr == nil { // a concurrent import won
			return a.Target, nil
		}
		return "", fmt.Errorf("lxd: alias %s: %w", alias, err)
	}
	return fp, nil
}

// rootPool is the storage pool of the default profile's root disk, else
// the first pool.
func rootPool(c lxd.InstanceServer) (string, error) {
	if p, _, err := c.GetProfile("default"); err == nil {
		for _, d := range p.Devices {
			if d["type"] == "disk" && d["path"] == "/" && d["pool"] != "" {
				return d["pool"], nil
			}
		}
	}
	pools, err := c.GetStoragePoolNames()
	if err != nil {
		return "", err
	}
	if len(pools) == 0 {
		return "", fmt.Errorf("lxd: no storage pool; initialise LXD (make lxd)")
	}
	return pools[0], nil
}

// lockFile serialises base preparation between lab processes.
func lockFile(name string) (func(), error) {
	dir := filepath.Join(os.TempDir(), "lab-lxd-locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// ensureBase returns the "base/snapshot" source cells copy their nodes
// from, preparing it once: a stopped container from the image with the
// lab's init pushed in and the node configuration, snapshotted.
func ensureBase(ctx context.Context, c lxd.InstanceServer, img *image.Image, pool, target, run string) (string, error) {
	base := baseName(run, img, target)
	src := base + "/" + baseSnapshot
	if _, _, err := c.GetInstanceSnapshot(base, baseSnapshot); err == nil {
		return src, nil
	}
	unlock, err := lockFile(base)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, _, err := c.GetInstanceSnapshot(base, baseSnapshot); err == nil {
		return src, nil
	}
	if _, _, err := c.GetInstance(base); err == nil { // half-prepared: start over
		if err := deleteInstance(c, base); err != nil {
			return "", err
		}
	}
	fp, err := ensureImage(c, img)
	if err != nil {
		return "", err
	}
	cfg := nodeConfig()
	cfg["user.lab.base"] = img.Name + "-" + img.Hash[:12]
	cfg["user.lab.target"] = target
	cfg["user.lab.prefix"] = run + baseInfix
	op, err := c.CreateInstance(api.InstancesPost{
		Name: base, Type: api.InstanceTypeContainer,
		Source: api.InstanceSource{Type: "image", Fingerprint: fp},
		InstancePut: api.InstancePut{
			Config: cfg, Profiles: []string{}, Description: "lab: prepared node of image " + img.Name,
			Devices: map[string]map[string]string{"root": {"type": "disk", "path": "/", "pool": pool}},
		},
	})
	if err == nil {
		err = waitOp(ctx, op)
	}
	if err != nil {
		return "", fmt.Errorf("lxd: create base %s: %w", base, err)
	}
	if err := c.CreateInstanceFile(base, initPath, lxd.InstanceFileArgs{
		Content: strings.NewReader(initScript), Mode: 0o755, Type: "file", WriteMode: "overwrite",
	}); err != nil {
		return "", fmt.Errorf("lxd: push init into %s: %w", base, err)
	}
	op, err = c.CreateInstanceSnapshot(base, api.InstanceSnapshotsPost{Name: baseSnapshot})
	if err == nil {
		err = waitOp(ctx, op)
	}
	if err != nil {
		return "", fmt.Errorf("lxd: snapshot %s: %w", base, err)
	}
	return src, nil
}

// deleteInstance stops (forcibly) and deletes an instance; a missing one
// is not an error.
func deleteInstance(c lxd.InstanceServer, name string) error {
	inst, _, err := c.GetInstance(name)
	if err != nil {
		if api.StatusErrorCheck(err, 404) {
			return nil
		}
		return err
	}
	if inst.StatusCode != api.Stopped {
		op, err := c.UpdateInstanceState(name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1}, "")
		if err == nil {
			err = op.Wait()
		}
		if err != nil && !strings.Contains(err.Error(), "already stopped") {
			return fmt.Errorf("lxd: stop %s: %w", name, err)
		}
	}
	// An instance LXD is still creating (a spare copy, the operation of a
	// killed process) cannot be deleted until that ends: wait for it.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		op, err := c.DeleteInstance(name)
		if err == nil {
			err = op.Wait()
		}
		switch {
		case err == nil, api.StatusErrorCheck(err, 404):
			return nil
		case strings.Contains(err.Error(), "is busy running") && time.Now().Before(deadline):
			continue
		}
		return fmt.Errorf("lxd: delete %s: %w", name, err)
	}
}

// Forget removes the bases this provider prepared of node image name and
// the imported image (the lab's own AliasPrefix names only), so the next
// cell imports and prepares it again.
func (p *Provider) Forget(ctx context.Context, name string) error {
	c, err := p.client(ctx)
	if err != nil {
		return err
	}
	p.dropNext() // copies of the bases that go
	for _, b := range p.takeBases(func(b string) bool { return strings.Contains(b, baseInfix+name+"-") }) {
		if err := deleteInstance(c, b); err != nil {
			return err
		}
	}
	aliases, err := c.GetImageAliases()
	if err != nil {
		return err
	}
	for _, a := range aliases {
		if strings.HasPrefix(a.Name, AliasPrefix+name+"-") {
			op, err := c.DeleteImage(a.Target)
			if err == nil {
				err = op.Wait()
			}
			if err != nil {
				return fmt.Errorf("lxd: delete image %s: %w", a.Name, err)
			}
		}
	}
	return nil
}

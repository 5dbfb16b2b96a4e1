package dockerprov

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"lab/harness/image"

	"github.com/moby/moby/client"
)

// DefaultImage is the node image of profiles that name none.
const DefaultImage = "debian-bookworm"

// TagRepo is the repository of the lab's node images in the engine
// (lab-node/NAME:HASH12). They are a cache, like the image directories:
// runs never remove them.
const TagRepo = "lab-node/"

// nodeImage is a node image present in the engine.
type nodeImage struct {
	name, tag, fingerprint string
}

// resolve finds the built node image name (its current recipe's build) and
// makes sure the engine has it, importing its rootfs.tar once (`docker
// import` through the API; nothing is ever pulled).
func (p *prov) resolve(ctx context.Context, cli *client.Client, name string) (nodeImage, error) {
	if name == "" {
		name = DefaultImage
	}
	recipes, err := p.recipesDir()
	if err != nil {
		return nodeImage{}, err
	}
	r, err := image.Load(recipes, name)
	if err != nil {
		return nodeImage{}, err
	}
	st := &image.Store{Root: p.opts.ImagesRoot}
	img, ok := st.Get(r)
	if !ok {
		return nodeImage{}, fmt.Errorf("node image %s (recipe hash %s) is not built under %s; run `lab images build %s`", name, r.Hash()[:12], st.Root, name)
	}
	if img.Tarball == "" || img.Fingerprint == "" {
		return nodeImage{}, fmt.Errorf("node image %s in %s has no rootfs.tar; rebuild it with `lab images build %s`", name, img.Dir, name)
	}
	ni := nodeImage{name: name, tag: TagRepo + name + ":" + img.Hash[:12], fingerprint: img.Fingerprint}
	if present(ctx, cli, ni) {
		return ni, nil
	}
	// One import per image at a time, across processes: two concurrent
	// imports would leave an untagged copy behind.
	lf, err := os.OpenFile(filepath.Join(img.Dir, "docker-import.lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nodeImage{}, fmt.Errorf("import node image %s: %w", name, err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return nodeImage{}, fmt.Errorf("import node image %s: lock: %w", name, err)
	}
	if present(ctx, cli, ni) {
		return ni, nil
	}
	if err := importTar(ctx, cli, filepath.Join(img.Dir, img.Tarball), ni.tag); err != nil {
		return nodeImage{}, fmt.Errorf("import node image %s: %w", name, err)
	}
	if !present(ctx, cli, ni) {
		return nodeImage{}, fmt.Errorf("import node image %s: %s does not have the layer %s after import", name, ni.tag, ni.fingerprint)
	}
	return ni, nil
}

// present reports whether the engine has the tag with the image's layer.
func present(ctx context.Context, cli *client.Client, ni nodeImage) bool {
	res, err := cli.ImageInspect(ctx, ni.tag)
	if err != nil || res.RootFS.Type != "layers" {
		return false
	}
	return len(res.RootFS.Layers) == 1 && res.RootFS.Layers[0] == ni.fingerprint
}

// importTar imports an uncompressed rootfs tarball as tag.
func importTar(ctx context.Context, cli *client.Client, tarball, tag string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := cli.ImageImport(ctx, client.ImageImportSource{Source: f, SourceName: "-"}, tag, client.ImageImportOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

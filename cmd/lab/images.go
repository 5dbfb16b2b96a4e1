package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"lab/harness/execx"
	"lab/harness/image"
)

const imagesUsage = `Usage: lab images SUBCOMMAND [flags] [NAME...]

Node images are the userspace a node boots with, built from recipes in
images/recipes/NAME.yaml (a Debian suite, packages, a small setup) with
debootstrap and apt-get in a chroot, cached under the image root by the hash
of the recipe: a build whose recipe did not change is instant, and an
interrupted build resumes at its last unfinished stage (debootstrap, apt,
setup, measure, export). Each image directory, NAME-HASH12, holds rootfs/,
rootfs.tar(.zst) for container providers and image.json (the versions of
iptables, nft, firewalld and iproute2 measured inside the image, and the
tarball's sha256 fingerprint).

Subcommands:
  build [NAME...]   build the named recipes (default: all); needs root and debootstrap
  list [--json]     recipes and built images: suite, hash, state, size, measured versions
  rm NAME...        remove every built version of image NAME (or one NAME-HASH12 directory)

Flags (every subcommand):
`

// imageFlags are the flags every images subcommand takes.
type imageFlags struct {
	root string
	json bool
}

func cmdImages(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d, err := defaultDirs()
	if err != nil {
		return err
	}
	recipes := filepath.Join(d.images, "recipes")
	var f imageFlags
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("images", flag.ContinueOnError)
	fs.StringVar(&f.root, "root", image.DefaultRoot, "image root: where images are built and cached")
	if sub == "list" {
		fs.BoolVar(&f.json, "json", false, "print the images as a JSON array")
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), imagesUsage)
		fs.PrintDefaults()
	}
	names, err := parse(fs, args)
	if err != nil {
		return err
	}
	if f.root == "" || !filepath.IsAbs(f.root) {
		return usagef("--root %q: want an absolute directory", f.root)
	}
	store := &image.Store{Root: filepath.Clean(f.root)}
	switch sub {
	case "build":
		return imagesBuild(ctx, store, recipes, names, stdout)
	case "list":
		if len(names) > 0 {
			return usagef("list takes no NAME (got %s)", strings.Join(names, " "))
		}
		return imagesList(store, recipes, f.json, stdout)
	case "rm":
		return imagesRm(store, names, stdout)
	case "":
		return usagef("no subcommand; use build, list or rm (see lab images -h)")
	}
	return usagef("unknown subcommand %q; use build, list or rm (see lab images -h)", sub)
}

// imagesBuild loads and checks everything before it creates anything.
func imagesBuild(ctx context.Context, store *image.Store, dir string, names []string, stdout io.Writer) error {
	var rs []*image.Recipe
	var err error
	if len(names) == 0 {
		if rs, err = image.LoadAll(dir); err == nil && len(rs) == 0 {
			return usagef("no recipes in %s", dir)
		}
	}
	for _, n := range names {
		var r *image.Recipe
		if r, err = image.Load(dir, n); err != nil {
			break
		}
		rs = append(rs, r)
	}
	if err != nil {
		return usagef("%v", err)
	}
	if err := image.Check(); err != nil {
		return usagef("%v", err)
	}
	b := image.Chroot{Runner: execx.Host{}}
	for _, r := range rs {
		m, err := store.Build(ctx, r, b, stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", filepath.Base(m.Dir), versionsLine(m.Versions))
	}
	return nil
}

// listed is one row of `lab images list`: a recipe, a built image, or both.
type listed struct {
	image.Entry
	// State adds "not built" (a recipe without an image) and "stale" (an
	// image whose recipe changed or is gone) to the store's states.
	State string `json:"state"`
	Next  string `json:"resume_at,omitempty"`
	Dir   string `json:"dir,omitempty"`
}

func imagesList(store *image.Store, dir string, asJSON bool, stdout io.Writer) error {
	recipes, err := image.LoadAll(dir)
	if err != nil {
		return usagef("%v", err)
	}
	entries, err := store.List()
	if err != nil {
		return err
	}
	current := map[string]string{} // name -> current hash
	for _, r := range recipes {
		current[r.Name] = r.Hash()
	}
	var rows []listed
	built := map[string]bool{}
	for _, e := range entries {
		row := listed{Entry: e, State: e.State, Next: e.Next, Dir: e.Dir}
		if h, ok := current[e.Name]; !ok || !strings.HasPrefix(h, e.Hash) {
			row.State = "stale"
		} else {
			built[e.Name] = true
		}
		rows = append(rows, row)
	}
	for _, r := range recipes {
		if !built[r.Name] {
			rows = append(rows, listed{Entry: image.Entry{Image: image.Image{Name: r.Name, Suite: r.Suite, Hash: r.Hash()}}, State: "not built"})
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	fmt.Fprintf(stdout, "image root: %s; recipes: %s\n", store.Root, dir)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSUITE\tHASH\tSTATE\tSIZE\tVERSIONS (measured in the image)")
	for _, r := range rows {
		state := r.State
		if r.Next != "" && r.State != image.StateReady {
			state += " (next: " + r.Next + ")"
		}
		size := "-"
		if r.TarballBytes > 0 {
			size = fmt.Sprintf("%s (%s tarball)", mib(r.RootfsBytes), mib(r.TarballBytes))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.12s\t%s\t%s\t%s\n", r.Name, dash(r.Suite), r.Hash, state, size, versionsLine(r.Versions))
	}
	return tw.Flush()
}

func imagesRm(store *image.Store, names []string, stdout io.Writer) error {
	if len(names) == 0 {
		return usagef("rm needs NAME...; see `lab images list`")
	}
	entries, err := store.List()
	if err != nil {
		return err
	}
	for _, n := range names {
		if !image.ValidName(n) {
			return usagef("%q is not an image name (see `lab images list`)", n)
		}
		found := false
		for _, e := range entries {
			found = found || e.Name == n || filepath.Base(e.Dir) == n
		}
		if !found {
			return usagef("%v", &image.NotBuiltError{Name: n})
		}
	}
	for _, n := range names {
		removed, err := store.Remove(n)
		for _, d := range removed {
			fmt.Fprintf(stdout, "removed %s\n", d)
		}
		if err != nil && !errors.As(err, new(*image.NotBuiltError)) {
			return err
		}
	}
	return nil
}

// versionsLine renders measured versions: "iptables-legacy 1.8.7, ...".
func versionsLine(v map[string]image.Tool) string {
	if len(v) == 0 {
		return "-"
	}
	var parts []string
	for _, t := range image.Tools() {
		m, ok := v[t.Name]
		if !ok {
			continue
		}
		ver := m.Version
		if ver == "" {
			ver = m.Note
		}
		parts = append(parts, t.Name+" "+ver)
	}
	return strings.Join(parts, ", ")
}

func mib(n int64) string { return fmt.Sprintf("%.0fM", float64(n)/(1<<20)) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

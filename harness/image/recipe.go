// Package image builds, lists and removes node images: the userspace a node
// boots with, made from a recipe (images/recipes/NAME.yaml: a Debian suite, a
// package list and a small setup) with debootstrap and apt-get in a chroot,
// cached under an image root by the hash of the normalised recipe, and
// exported as a rootfs tarball for container providers. It also records the
// versions of the networking tools, measured inside the built rootfs.
package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"lab/harness/locate"

	"gopkg.in/yaml.v3"
)

// formatVersion is part of every recipe hash: bump it when the build
// procedure changes in a way that makes older images wrong.
const formatVersion = 1

// Suites returns the Debian suites a recipe may name.
func Suites() []string { return []string{"bullseye", "bookworm", "trixie"} }

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
)

// Recipe is one node image recipe.
type Recipe struct {
	// Name is the file's base name.
	Name string `yaml:"-" json:"name"`
	// Description says what the image is for; it is not part of the hash.
	Description string `yaml:"description" json:"description,omitempty"`
	// Suite is the Debian suite (bullseye, bookworm, trixie).
	Suite string `yaml:"suite" json:"suite"`
	// Packages are added to debootstrap's minbase with --include.
	Packages []string `yaml:"packages" json:"packages"`
	// AptPackages are installed with apt-get (no recommends) in the chroot
	// after debootstrap: packages whose dependencies debootstrap cannot
	// resolve (alternatives such as firewalld's logind).
	AptPackages []string `yaml:"apt_packages" json:"apt_packages"`
	// Setup runs last, in order: files first, then commands.
	Setup Setup `yaml:"setup" json:"setup"`
	// File is the path the recipe was read from.
	File string `yaml:"-" json:"-"`
}

// Setup is the small, ordered customisation applied inside the chroot.
type Setup struct {
	// Files are written inside the rootfs (through the chroot, so symlinks
	// in the rootfs never lead outside it).
	Files []File `yaml:"files" json:"files"`
	// Run are shell command lines run with /bin/sh -c in the chroot, without
	// network, in order. They must be safe to run again (resume).
	Run []string `yaml:"run" json:"run"`
}

// File is one file written into the rootfs.
type File struct {
	// Path is absolute inside the rootfs.
	Path string `yaml:"path" json:"path"`
	// Content is written verbatim.
	Content string `yaml:"content" json:"content"`
	// Mode is an octal string ("0644", the default).
	Mode string `yaml:"mode" json:"mode"`
}

// Error is a recipe error with the file and line it is about.
type Error struct {
	File string
	Line int
	Msg  string
}

// Error renders FILE:LINE: message.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// NotFoundError is returned for an unknown recipe name.
type NotFoundError struct {
	Name  string
	Valid []string
}

// Error names the unknown image and the recipes there are.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("unknown image %q; recipes: %s", e.Name, strings.Join(e.Valid, ", "))
}

// ValidName reports whether s can name an image (and so a recipe file).
func ValidName(s string) bool { return len(s) <= 64 && nameRE.MatchString(s) }

// Names lists the recipes in dir (base names of *.yaml), sorted.
func Names(dir string) ([]string, error) { return locate.BaseNames(dir, ".yaml") }

// Load reads the named recipe from dir.
func Load(dir, name string) (*Recipe, error) {
	valid, err := Names(dir)
	if err != nil {
		return nil, err
	}
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, &NotFoundError{Name: name, Valid: valid}
	}
	file := filepath.Join(dir, name+".yaml")
	data, err := os.ReadFile(file)
	if base, ok := strings.CutSuffix(name, VMSuffix); ok && errors.Is(err, os.ErrNotExist) && base != "" {
		// NAME-vm is the VM variant of recipe NAME (see VM).
		r, berr := Load(dir, base)
		if berr != nil {
			return nil, berr
		}
		return VM(r), nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NotFoundError{Name: name, Valid: valid}
	}
	if err != nil {
		return nil, fmt.Errorf("read recipe: %w", err)
	}
	return Parse(file, data)
}

// LoadAll reads every recipe in dir.
func LoadAll(dir string) ([]*Recipe, error) {
	names, err := Names(dir)
	if err != nil {
		return nil, err
	}
	var out []*Recipe
	for _, n := range names {
		r, err := Load(dir, n)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Parse parses and validates a recipe; file names it (its base name is the
// recipe's name) and prefixes every error, with the line where known.
func Parse(file string, data []byte) (*Recipe, error) {
	name := strings.TrimSuffix(filepath.Base(file), ".yaml")
	r := &Recipe{Name: name, File: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(r); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	errf := func(at []any, format string, a ...any) error {
		return &Error{File: file, Line: lineOf(&root, at...), Msg: fmt.Sprintf(format, a...)}
	}
	if !ValidName(name) {
		return nil, &Error{File: file, Msg: fmt.Sprintf("%q is not a valid image name (lower-case letters, digits, '.' and '-')", name)}
	}
	if r.Suite == "" {
		return nil, errf(nil, "suite: missing; one of %s", strings.Join(Suites(), ", "))
	}
	if !contains(Suites(), r.Suite) {
		return nil, errf([]any{"suite"}, "suite: %q is not one of %s", r.Suite, strings.Join(Suites(), ", "))
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"packages", r.Packages}, {"apt_packages", r.AptPackages}} {
		for i, p := range l.list {
			if !packageRE.MatchString(p) {
				return nil, errf([]any{l.key, i}, "%s: %q is not a Debian package name", l.key, p)
			}
		}
	}
	for i, f := range r.Setup.Files {
		at := []any{"setup", "files", i}
		if f.Path == "" || !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, errf(append(at, "path"), "setup.files: path %q must be absolute and clean (no .., no trailing /)", f.Path)
		}
		if f.Mode != "" {
			if m, err := strconv.ParseUint(f.Mode, 8, 32); err != nil || m > 0o7777 {
				return nil, errf(append(at, "mode"), "setup.files: mode %q is not an octal permission like \"0644\"", f.Mode)
			}
		}
	}
	for i, c := range r.Setup.Run {
		if strings.TrimSpace(c) == "" {
			return nil, errf([]any{"setup", "run", i}, "setup.run: empty command")
		}
	}
	return r, nil
}

// Normalised returns the recipe as it is hashed: package lists sorted and
// deduplicated, file modes defaulted, no description or file path.
func (r *Recipe) Normalised() Recipe {
	n := Recipe{Name: r.Name, Suite: r.Suite, Packages: sortedSet(r.Packages), AptPackages: sortedSet(r.AptPackages)}
	for _, f := range r.Setup.Files {
		if f.Mode == "" {
			f.Mode = "0644"
		}
		m, _ := strconv.ParseUint(f.Mode, 8, 32)
		f.Mode = fmt.Sprintf("%04o", m)
		n.Setup.Files = append(n.Setup.Files, f)
	}
	n.Setup.Run = append([]string(nil), r.Setup.Run...)
	return n
}

// Hash is the hex sha256 of the normalised recipe and the build format: the
// image's cache key. Comments, key order, package order and the description
// do not change it; anything the build uses does.
func (r *Recipe) Hash() string {
	n := r.Normalised()
	data, _ := json.Marshal(struct {
		Format int    `json:"format"`
		Recipe Recipe `json:"recipe"`
	}{formatVersion, n})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// DirName is the image's directory name under the image root:
// NAME-HASH12.
func (r *Recipe) DirName() string { return r.Name + "-" + r.Hash()[:12] }

func sortedSet(in []string) []string {
	out := []string{}
	for _, s := range in {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// yamlError turns a yaml.v3 error into an Error with file:line.
func yamlError(file string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := regexp.MustCompile(`^line (\d+): (.*)$`).FindStringSubmatch(strings.SplitN(msg, "\n", 2)[0]); m != nil {
		line, _ := strconv.Atoi(m[1])
		text := strings.Replace(m[2], " in type image.Recipe", "", 1)
		text = regexp.MustCompile(` in type image\.\w+`).ReplaceAllString(text, "")
		return &Error{File: file, Line: line, Msg: text}
	}
	return &Error{File: file, Msg: msg}
}

// lineOf returns the line of the node at path (map keys as strings, list
// indexes as ints) in a parsed document, or of the nearest existing parent.
func lineOf(doc *yaml.Node, at ...any) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, step := range at {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
			}
		}
		if next == nil {
			break
		}
		n, line = next, next.Line
	}
	return line
}

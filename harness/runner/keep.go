package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"lab/harness/results"
	"lab/harness/sim"
)

// KeptDir holds one directory per kept cell (state, shims and kept.json).
const KeptDir = StateRoot + "/kept"

// Kept describes a failed cell left running for inspection with --keep.
type Kept struct {
	Cell   string `json:"cell"`
	RunID  string `json:"run_id"`
	Prefix string `json:"prefix"`
	// Provider is the provider the cell ran on; `lab shell` enters nodes
	// through it.
	Provider string `json:"provider"`
	// Nodes are the cell's hosts by name.
	Nodes []string `json:"nodes"`
	// Env maps node names to the environment lab ran commands with there
	// (iptables variant in PATH, kernel profile).
	Env map[string][]string `json:"env"`
	Dir string              `json:"dir"`
}

func (o *Options) keep(res *results.Cell, prefix, stateDir, provider string, cluster *sim.Cluster) error {
	dir := filepath.Join(KeptDir, filepath.Base(prefix))
	if err := os.MkdirAll(KeptDir, 0o755); err != nil {
		return err
	}
	if st, err := os.Lstat(KeptDir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a directory (a symlink?); lab keeps cells only in its own directory: remove it (rm %s)", KeptDir, KeptDir)
	}
	if err := os.Rename(stateDir, dir); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("keep state: %w", err)
	}
	k := Kept{Cell: res.ID, RunID: res.RunID, Prefix: prefix, Provider: provider, Env: map[string][]string{}, Dir: dir}
	if cluster != nil {
		for _, h := range cluster.Hosts() {
			k.Nodes = append(k.Nodes, h.Name())
			k.Env[h.Name()] = append([]string(nil), h.Env...)
		}
	}
	data, _ := json.MarshalIndent(k, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "kept.json"), data, 0o644); err != nil {
		return err
	}
	nodes := k.Nodes
	res.Error = strings.TrimSpace(res.Error + fmt.Sprintf("\nkept for inspection: lab shell %s NODE (nodes: %s); lab clean --kept removes it", res.ID, strings.Join(nodes, ", ")))
	return nil
}

// LoadKept finds a kept cell by ID (or a unique prefix of it).
func LoadKept(id string) (*Kept, error) {
	files, _ := filepath.Glob(filepath.Join(KeptDir, "*", "kept.json"))
	var match []*Kept
	var ids []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var k Kept
		if json.Unmarshal(data, &k) != nil || !k.confined() {
			continue // not a kept cell lab wrote
		}
		ids = append(ids, k.Cell)
		if k.Cell == id {
			return &k, nil
		}
		if strings.HasPrefix(k.Cell, id) {
			match = append(match, &k)
		}
	}
	if len(match) == 1 {
		return match[0], nil
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no kept cells; run with --keep to keep failed cells")
	}
	return nil, fmt.Errorf("no kept cell %q (ambiguous or unknown); kept cells: %s", id, strings.Join(ids, ", "))
}

// confined reports whether k names a lab cell's prefix and plain node
// names (lab shell enters nodes only through the provider, by prefix and
// name).
func (k *Kept) confined() bool {
	if !strings.HasPrefix(k.Prefix, NamespacePrefix) || strings.ContainsAny(k.Prefix, "/\x00 ") {
		return false
	}
	for _, name := range k.Nodes {
		if name == "" || strings.ContainsAny(name, "/\x00 ") {
			return false
		}
	}
	return true
}

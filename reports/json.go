package reports

import (
	"encoding/json"
	"fmt"

	"lab/harness/results"
)

// WriteJSON writes cells to path as one JSON array (indented by two spaces,
// sorted like results.Sort, never null), atomically. Each element has the
// same shape as the per-cell documents of results.Store.
func WriteJSON(path string, cells []*results.Cell) error {
	data, err := json.MarshalIndent(sortedCells(cells), "", "  ")
	if err != nil {
		return fmt.Errorf("encode cells: %w", err)
	}
	if err := results.WriteFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

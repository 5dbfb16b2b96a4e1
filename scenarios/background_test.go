package scenarios

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"lab/harness/results"
)

// TestObservationWaitsForBackground: an observation a background job
// records later is there when an expectation reads it; a job's error fails
// the reading, names the job, and is reported once; jobs of one key run
// one after another when a step settles that key.
func TestObservationWaitsForBackground(t *testing.T) {
	w := NewWorld(nil, &results.Cell{}, io.Discard)
	w.background("felix node1", "Felix ipv6 on node1", func() error {
		time.Sleep(50 * time.Millisecond)
		w.Observe("retries", 10)
		return nil
	})
	if err := w.shouldBe("retries", `"10"`); err != nil {
		t.Fatalf("expectation read before the job ended: %v", err)
	}

	boom := errors.New("exit status 2")
	w.background("felix node1", "Felix ipv4 on node1", func() error { return boom })
	_, err := w.Observation("retries")
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "Felix ipv4 on node1") {
		t.Fatalf("job error not reported with its job: %v", err)
	}
	if _, err := w.Observation("retries"); err != nil {
		t.Errorf("a settled job's error was reported twice: %v", err)
	}

	var order []string
	w.background("felix node1", "first", func() error {
		time.Sleep(30 * time.Millisecond)
		order = append(order, "first")
		return nil
	})
	w.background("felix node2", "other", func() error {
		time.Sleep(300 * time.Millisecond)
		return nil
	})
	if err := w.settle("felix node1"); err != nil {
		t.Fatal(err)
	}
	order = append(order, "after settle")
	if strings.Join(order, ",") != "first,after settle" {
		t.Errorf("settle of a key returned before its job ended: %v", order)
	}
	if len(w.jobs) != 1 || w.jobs[0].what != "other" {
		t.Errorf("settle of one key took the other's job off: %d jobs left", len(w.jobs))
	}
	if err := w.Settle(); err != nil || len(w.jobs) != 0 {
		t.Errorf("Settle: %v, %d jobs left", err, len(w.jobs))
	}
}

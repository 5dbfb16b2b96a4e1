package main

import (
	"os"
	"testing"

	"lab/harness/agent"
)

// TestMain lets the test binary serve as the agent the cluster pushes into
// its nodes.
func TestMain(m *testing.M) {
	agent.MaybeMain()
	os.Exit(m.Run())
}

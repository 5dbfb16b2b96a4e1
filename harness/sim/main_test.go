package sim

import (
	"testing"

	"lab/harness/agent"
)

// TestMain lets the test binary serve as the agent pushed into nodes.
func TestMain(m *testing.M) { agent.RunTests(m) }

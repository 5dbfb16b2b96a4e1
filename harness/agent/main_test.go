package agent

import "testing"

// TestMain lets this test binary serve as the agent pushed into nodes.
func TestMain(m *testing.M) { RunTests(m) }

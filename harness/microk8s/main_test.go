package microk8s_test

import (
	"testing"

	"lab/harness/agent"
)

func TestMain(m *testing.M) { agent.RunTests(m) }

//go:build tools

// Package tool pins Lima (limactl and its guest agent) for the lima provider;
// the Makefile builds both from this module into bin/lima.
package tool

import (
	_ "github.com/lima-vm/lima/cmd/lima-guestagent"
	_ "github.com/lima-vm/lima/cmd/limactl"
)

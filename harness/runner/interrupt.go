package runner

import "context"

// interrupted reports whether the run itself was stopped (its context
// cancelled: a signal or the run's deadline), as opposed to a cell's own
// timeout. A cell cut short that way is not stored as a result.
func interrupted(runCtx context.Context) bool { return runCtx.Err() != nil }

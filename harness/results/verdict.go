package results

// Verdicts: what a cell means for the matrix, given what its Examples row
// expects of the reported failure in that environment.
const (
	// VerdictReproduced: the known bug is present, as expected.
	VerdictReproduced = "reproduced"
	// VerdictClean: the failure is absent, as expected.
	VerdictClean = "clean"
	// VerdictRegression: expected clean, the failure was observed.
	VerdictRegression = "regression"
	// VerdictFixed: expected present, the failure was not observed.
	VerdictFixed = "unexpectedly-fixed"
	// VerdictFailed: the failure's presence was as expected, but another
	// expectation of the scenario (a count, a status) did not hold.
	VerdictFailed = "failed"
	// VerdictInfra: the lab failed (setup, a command, a timeout); the cell's
	// Error says why.
	VerdictInfra = "infra-error"
	// VerdictSkipped: the provider cannot run the cell here.
	VerdictSkipped = "skipped"
)

// Verdicts lists every verdict, best first, for keys and legends.
var Verdicts = []string{VerdictReproduced, VerdictClean, VerdictRegression, VerdictFixed, VerdictFailed, VerdictInfra, VerdictSkipped}

// Verdict derives the verdict of a finished cell.
func Verdict(c *Cell) string {
	switch c.Status {
	case Error:
		return VerdictInfra
	case Skipped:
		return VerdictSkipped
	}
	if c.Reproduced != nil && c.Expected != "" {
		switch {
		case *c.Reproduced && c.Expected == "absent":
			return VerdictRegression
		case !*c.Reproduced && c.Expected == "present":
			return VerdictFixed
		}
	}
	if c.Status == Failed {
		return VerdictFailed
	}
	if c.Reproduced != nil && *c.Reproduced {
		return VerdictReproduced
	}
	return VerdictClean
}

// Bad reports whether a verdict makes the run's exit status non-zero.
func Bad(verdict string) bool {
	switch verdict {
	case VerdictRegression, VerdictFixed, VerdictFailed, VerdictInfra:
		return true
	}
	return false
}

// Package nightly ships the definitions that schedule the lab's unattended
// nightly (`make nightly`, i.e. `lab nightly`): a systemd service and timer
// (lab-nightly.service, lab-nightly.timer) and a workflow for a
// self-hosted CI runner (github-workflow.yml). Its test parses them.
package nightly

// Files returns the shipped definitions, relative to this directory.
func Files() []string {
	return []string{"lab-nightly.service", "lab-nightly.timer", "github-workflow.yml"}
}

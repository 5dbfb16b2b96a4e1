package features

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lab/harness/feature"
	"lab/harness/results"
)

// TestNewKernelProfileNeedsNoCode is what a maintainer does to reproduce a
// kernel lacking another extension: add a profile file hiding it (here the
// IPv4 `comment` match, which every Felix and kube-proxy rule uses) and
// write a feature; the failing restores name the extension in the kernel's
// own warning, and the IPv4 Service stops answering.
func TestNewKernelProfileNeedsNoCode(t *testing.T) {
	images := t.TempDir()
	src, err := filepath.Glob("../images/*.yaml")
	if err != nil || len(src) == 0 {
		t.Fatalf("no profiles: %v", err)
	}
	for _, f := range src {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(images, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(images, "calico-no-comment.yaml"), `description: a kernel without xt_comment
extends: [microk8s-1.32-calico]
kernel:
  release: 6.8.0-99-test
  missing:
    ipv4:
      matches: [comment]
`)
	const warn = "Warning: Extension comment revision 0 not supported, missing kernel module?"
	ff := filepath.Join(t.TempDir(), "no-comment.feature")
	write(ff, `Feature: a kernel without the comment match
  Scenario Outline: Services on <profile>
    Given a Calico node "node1" with pod CIDRs "10.1.0.0/16"
    And a pod "web" on "node1" serving HTTP on port 8080
    And a pod "client" on "node1"
    And a ClusterIP Service "web" with IPs "10.152.183.10" on port 80 for pod "web"
    When Felix programs its ipv4 rules on "node1" as "felix_restore_v4"
    And kube-proxy syncs the ipv4 Services on "node1" as "kube_proxy_restore_v4"
    And "client" requests HTTP from Service "web" over ipv4 as "service_v4_http"
    Then observation "felix_restore_v4" should be <restore>
    And observation "kube_proxy_restore_v4" should be <restore>
    And the reported failure is present when observation "service_v4_http" is not "200"
    And the reported failure should be <failure>

    Examples:
      | profile           | restore                  | failure |
      | calico-no-comment | containing "`+warn+`" | present |
      | calico-6.8.0-55   | "ok"                     | absent  |
`)
	ft, err := feature.Parse(ff)
	if err != nil {
		t.Fatal(err)
	}
	opts := cellOptions(t, images)
	for i, c := range ft.Cells {
		res := opts.Cell(context.Background(), i, c)
		if res.Status != results.Passed {
			t.Errorf("cell %s: status %s: %s\nobservations: %v", res.ID, res.Status, res.Error, res.Observations)
		}
		if c.Profile == "calico-no-comment" {
			for _, obs := range []string{"felix_restore_v4", "kube_proxy_restore_v4"} {
				if v, _ := res.Observations[obs].(string); !strings.Contains(v, warn) {
					t.Errorf("%s = %q, want the kernel's warning naming comment", obs, v)
				}
			}
		}
	}
}

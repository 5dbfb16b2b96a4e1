package nightly

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// unit parses a systemd unit file into section -> key -> values, failing
// on anything that is not a comment, a [Section] or a Key=Value line.
func unit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	sec := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			sec = l[1 : len(l)-1]
			out[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || sec == "" || strings.TrimSpace(k) == "" {
				t.Fatalf("%s:%d: not a unit file line: %q", path, n, l)
			}
			out[sec][strings.TrimSpace(k)] = append(out[sec][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out
}

func one(t *testing.T, u map[string]map[string][]string, sec, key string) string {
	t.Helper()
	v := u[sec][key]
	if len(v) == 0 {
		t.Fatalf("[%s] %s missing", sec, key)
	}
	return v[len(v)-1]
}

// TestSystemdUnits parses the service and timer and checks they run the
// nightly, give teardown time, and schedule it.
func TestSystemdUnits(t *testing.T) {
	svc := unit(t, "lab-nightly.service")
	if one(t, svc, "Service", "Type") != "oneshot" || !strings.Contains(one(t, svc, "Service", "ExecStart"), "make nightly") {
		t.Errorf("service does not run make nightly once: %v", svc["Service"])
	}
	if one(t, svc, "Service", "KillSignal") != "SIGTERM" || one(t, svc, "Service", "TimeoutStopSec") == "" {
		t.Errorf("service does not stop lab with SIGTERM and time for teardown: %v", svc["Service"])
	}
	tm := unit(t, "lab-nightly.timer")
	if one(t, tm, "Timer", "Unit") != "lab-nightly.service" || one(t, tm, "Timer", "OnCalendar") == "" || one(t, tm, "Install", "WantedBy") != "timers.target" {
		t.Errorf("timer: %v", tm)
	}
	if p, err := exec.LookPath("systemd-analyze"); err == nil {
		out, err := exec.Command(p, "calendar", one(t, tm, "Timer", "OnCalendar")).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze calendar: %v\n%s", err, out)
		}
	}
}

// TestWorkflow parses the CI workflow: a nightly schedule on a
// self-hosted runner running make ci and make nightly.
func TestWorkflow(t *testing.T) {
	data, err := os.ReadFile("github-workflow.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Name string `yaml:"name"`
		On   struct {
			Schedule []struct {
				Cron string `yaml:"cron"`
			} `yaml:"schedule"`
		} `yaml:"on"`
		Jobs map[string]struct {
			RunsOn  []string `yaml:"runs-on"`
			Timeout int      `yaml:"timeout-minutes"`
			Steps   []struct {
				Uses string `yaml:"uses"`
				Run  string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(false)
	if err := dec.Decode(&wf); err != nil {
		t.Fatalf("workflow is not YAML: %v", err)
	}
	if len(wf.On.Schedule) != 1 || len(strings.Fields(wf.On.Schedule[0].Cron)) != 5 {
		t.Errorf("schedule: %+v", wf.On.Schedule)
	}
	job, ok := wf.Jobs["nightly"]
	if !ok || len(job.RunsOn) == 0 || job.RunsOn[0] != "self-hosted" || job.Timeout == 0 {
		t.Fatalf("nightly job: %+v", job)
	}
	var runs []string
	for _, s := range job.Steps {
		runs = append(runs, s.Run)
	}
	all := strings.Join(runs, "\n")
	for _, want := range []string{"make ci", "make nightly", "lab clean"} {
		if !strings.Contains(all, want) {
			t.Errorf("workflow does not run %q", want)
		}
	}
}

package runner

import (
	"context"
	"math/rand/v2"
	"sync"

	"lab/harness/feature"
	"lab/harness/provider"
	"lab/harness/results"
)

// Job is one attempt of one cell on one provider.
type Job struct {
	// Index is unique within the run; it names the job's resources.
	Index    int
	Cell     feature.Cell
	Provider provider.Provider
	Attempt  int
}

// ID is the stored identifier of the job's result.
func (j Job) ID() string {
	return results.AttemptID(results.CellID(j.Cell.Scenario, j.Cell.Line, j.Cell.Profile, j.Provider.Name()), j.Attempt)
}

// Planned describes the job for the run document.
func (j Job) Planned() results.Planned {
	return results.Planned{ID: j.ID(), Key: results.CellID(j.Cell.Scenario, j.Cell.Line, j.Cell.Profile, j.Provider.Name()),
		FeatureFile: j.Cell.File, Line: j.Cell.Line, Profile: j.Cell.Profile, Provider: j.Provider.Name(), Attempt: j.Attempt}
}

// Expand makes the jobs of a plan: every cell on every provider, repeat
// times, shuffled by seed (the same seed gives the same order).
func Expand(cells []feature.Cell, provs []provider.Provider, repeat int, seed uint64) []Job {
	if repeat < 1 {
		repeat = 1
	}
	var jobs []Job
	for _, p := range provs {
		for _, c := range cells {
			for a := 1; a <= repeat; a++ {
				jobs = append(jobs, Job{Cell: c, Provider: p, Attempt: a})
			}
		}
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r.Shuffle(len(jobs), func(i, k int) { jobs[i], jobs[k] = jobs[k], jobs[i] })
	for i := range jobs {
		jobs[i].Index = i
	}
	return jobs
}

// Event reports a job starting (Result nil) or finishing.
type Event struct {
	Job    Job
	Result *results.Cell
}

// RunJobs runs the jobs with at most parallel at once, calling progress
// (serialised) as each starts and ends. After ctx is cancelled no new job
// starts; running ones finish their teardown. It returns the finished cells.
func (o *Options) RunJobs(ctx context.Context, jobs []Job, parallel int, progress func(Event)) []*results.Cell {
	if parallel < 1 {
		parallel = 1
	}
	var mu sync.Mutex
	report := func(e Event) {
		if progress != nil {
			mu.Lock()
			progress(e)
			mu.Unlock()
		}
	}
	next := make(chan Job)
	var done []*results.Cell
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				if ctx.Err() != nil {
					continue // stopped: the job stays unrun, --resume runs it
				}
				report(Event{Job: j})
				res := o.Job(ctx, j)
				mu.Lock()
				done = append(done, res)
				mu.Unlock()
				report(Event{Job: j, Result: res})
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case <-ctx.Done():
			break feed
		case next <- j:
		}
	}
	close(next)
	wg.Wait()
	results.Sort(done)
	return done
}

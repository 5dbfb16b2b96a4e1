package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// runIDPattern is the only shape of a run ID: UTC start time, "-", 6 hex
// digits. Everything derived from an ID (state and result directories,
// namespace names) is confined by it.
var runIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

// CheckRunID returns an error unless id is a run ID lab makes
// (YYYYMMDDTHHMMSSZ-XXXXXX): a crafted ID in a run.json or on the command
// line can never name a path outside the lab's own directories.
func CheckRunID(id string) error {
	if !runIDPattern.MatchString(id) {
		return fmt.Errorf("bad run id %q: run ids look like 20250101T000000Z-0a1b2c (see ls OUT/runs)", printable(id))
	}
	return nil
}

// LiveError says a run still has a live owner process.
type LiveError struct {
	ID  string
	PID string
}

// Error names the live run, its owner and how to stop it.
func (e *LiveError) Error() string {
	return fmt.Sprintf("run %s is still running (pid %s); wait for it to end or stop it (kill -INT %s) before resuming it", e.ID, e.PID, e.PID)
}

// OpenRun claims the state directory of the run with the given ID (a new
// one, or one being resumed after its owner died). The directory appears
// with its owner file already inside (made aside, then renamed), so `lab
// clean` never sees a live run's directory without an owner. A run whose
// owner still lives is refused with a *LiveError.
func OpenRun(id string) (*Run, error) { return openRunIn(StateRoot, id) }

func openRunIn(root, id string) (*Run, error) {
	if err := CheckRunID(id); err != nil {
		return nil, err
	}
	short := shortID(id)
	r := &Run{ID: id, Prefix: NamespacePrefix + short, Dir: filepath.Join(root, short)}
	var err error
	for try := 0; try < 5; try++ { // a concurrent `lab clean` may remove StateRoot in between
		if err = r.claim(); err == nil || !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Run) claim() error {
	root := filepath.Dir(r.Dir)
	unlock, err := lockRoot(root, true)
	if err != nil {
		return err
	}
	defer unlock()
	tmp, err := os.MkdirTemp(root, ".new-"+filepath.Base(r.Dir)+"-")
	if err != nil {
		return fmt.Errorf("create run state in %s: %w", root, err)
	}
	self := os.Getpid()
	if err := os.WriteFile(filepath.Join(tmp, "owner"), []byte(fmt.Sprintf("%d %s", self, startTime(self))), 0o644); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("create run state: %w", err)
	}
	os.Chmod(tmp, 0o755)
	for {
		err := os.Rename(tmp, r.Dir)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			os.RemoveAll(tmp)
			return fmt.Errorf("create run state %s: %w", r.Dir, err)
		}
		if pid, live := owner(r.Dir); live {
			os.RemoveAll(tmp)
			return &LiveError{ID: r.ID, PID: pid}
		}
		// A dead owner's leftovers (its run is being resumed).
		if err := removeTree(r.Dir); err != nil {
			os.RemoveAll(tmp)
			return err
		}
	}
}

// stateRoot checks root (StateRoot) is a real directory (never a
// symlink: lab does not delete through links), creating it when create is
// set.
func stateRoot(root string, create bool) error {
	st, err := os.Lstat(root)
	if errors.Is(err, os.ErrNotExist) && create {
		if err := os.Mkdir(root, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create %s: %w", root, err)
		}
		st, err = os.Lstat(root)
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory (%s); lab never writes or deletes through it: remove it (rm %s) and run again", root, st.Mode().Type(), root)
	}
	return nil
}

// removeTree removes a directory lab made, without following a symlink:
// a link is removed itself, never its target.
func removeTree(p string) error {
	st, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return os.Remove(p)
	}
	return os.RemoveAll(p)
}

// owner returns the pid recorded in dir/owner and whether that process
// still runs.
func owner(dir string) (pid string, live bool) {
	b, err := os.ReadFile(filepath.Join(dir, "owner"))
	if err != nil {
		return "", false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return "", false
	}
	return f[0], alive(dir)
}

// printable quotes s for a one-line message: control characters escaped,
// at most 80 runes.
func printable(s string) string {
	r := []rune(s)
	if len(r) > 80 {
		s = string(r[:80]) + "…"
	}
	q := fmt.Sprintf("%q", s)
	return q[1 : len(q)-1]
}

// lockRoot takes the state root's lock (an exclusive flock on the
// directory itself) for a claim or a clean: they never interleave, so a
// clean never sees a run's directory half made nor removes one a resume
// just claimed. It retries when the root was removed meanwhile (Close and
// Clean remove it when empty), so the lock is always on the live root.
func lockRoot(root string, create bool) (unlock func(), err error) {
	for try := 0; ; try++ {
		if err := stateRoot(root, create); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(root, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && try < 100 {
				continue
			}
			return nil, fmt.Errorf("lock %s: %w", root, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", root, err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Lstat(root)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return func() { f.Close() }, nil
		}
		f.Close()
		if try >= 100 {
			return nil, fmt.Errorf("lock %s: it keeps being removed and made again", root)
		}
	}
}

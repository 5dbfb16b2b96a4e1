package reports

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// PublishAtomic renders the whole site aside (a fresh directory next to
// s.Dir) and then swaps it into place with one rename, so a reader (a web
// server, a browser) sees the old site or the new one, never a mix or a
// half-written page. s.Dir must be set and must not be s.Out (the result
// store cannot be swapped). The previous site is removed after the swap.
func PublishAtomic(s Site) (Published, error) {
	if s.Dir == "" {
		return Published{}, errors.New("atomic publish needs a site directory apart from the results (--site DIR)")
	}
	dir, err := filepath.Abs(s.Dir)
	if err != nil {
		return Published{}, err
	}
	if out, err := filepath.Abs(s.Out); err == nil && (out == dir || strings.HasPrefix(out+"/", dir+"/")) {
		return Published{}, fmt.Errorf("site %s holds the results %s; publish the site to another directory", dir, out)
	}
	if st, err := os.Lstat(dir); err == nil && !st.IsDir() {
		return Published{}, fmt.Errorf("site %s is not a directory (%s); remove it or choose another --site", dir, st.Mode().Type())
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Published{}, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".new-")
	if err != nil {
		return Published{}, err
	}
	defer os.RemoveAll(tmp) // the new site on failure, the old one after the swap
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Published{}, err
	}
	s.Dir, s.Incremental = tmp, false
	res, err := s.Publish()
	if err != nil {
		return res, err
	}
	res.Index = filepath.Join(dir, "index.html")
	if err := swap(tmp, dir); err != nil {
		return res, fmt.Errorf("publish %s: %w", dir, err)
	}
	return res, nil
}

// swap puts directory src at dst atomically: a plain rename when dst does
// not exist, else an exchange (renameat2 RENAME_EXCHANGE), after which src
// holds the old directory.
func swap(src, dst string) error {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) {
		return err
	}
	return unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE)
}

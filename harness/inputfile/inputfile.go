// Package inputfile reads the files lab takes as input (features, profiles,
// stored results) defensively: only regular files, never blocking on a FIFO
// or a device, bounded in size, and (for text) valid UTF-8 without NUL
// bytes, so a hostile or broken file is an error naming the file and the
// fix instead of a hang, a crash or garbage echoed to the terminal.
package inputfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"unicode/utf8"
)

// MaxSize is the default size limit of an input file (16 MiB).
const MaxSize = 16 << 20

// ErrNotRegular is wrapped by errors for anything but a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Read returns the content of the regular file at path, at most max bytes
// (MaxSize when max <= 0). It opens with O_NONBLOCK so a FIFO or device
// never blocks, and checks the opened file (not the name) is regular.
func Read(path string, max int64) ([]byte, error) {
	if max <= 0 {
		max = MaxSize
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(st.Mode()))}
	}
	if st.Size() > max {
		return nil, fmt.Errorf("read %s: %d bytes, more than the limit of %d", path, st.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("read %s: more than the limit of %d bytes", path, max)
	}
	return data, nil
}

// Text is Read for text files: the content must be valid UTF-8 without NUL
// bytes.
func Text(path string, max int64) ([]byte, error) {
	data, err := Read(path, max)
	if err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(data, 0); i >= 0 || !utf8.Valid(data) {
		return nil, fmt.Errorf("%s: not a UTF-8 text file (binary data at byte %d); check the file", path, badOffset(data))
	}
	return data, nil
}

// IsRegular reports whether path names a regular file (following symlinks).
func IsRegular(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func badOffset(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == 0 || r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(data)
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

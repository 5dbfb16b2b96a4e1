package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRefusesFIFOsDirectoriesAndBinary is the regression test of rows 12 and
// 14: a FIFO or directory is an error at once, binary data is not text.
func TestRefusesFIFOsDirectoriesAndBinary(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "x.feature")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(fifo, 0); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read blocked on a FIFO")
	}
	sub := filepath.Join(dir, "d.feature")
	os.Mkdir(sub, 0o755)
	if _, err := Read(sub, 0); !errors.Is(err, ErrNotRegular) {
		t.Errorf("directory: %v", err)
	}
	bin := filepath.Join(dir, "b.yaml")
	os.WriteFile(bin, []byte("a: 1\n\x00\xff\xfe"), 0o644)
	if _, err := Text(bin, 0); err == nil || !strings.Contains(err.Error(), "not a UTF-8 text file") {
		t.Errorf("binary: %v", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 100), 0o644)
	if _, err := Read(big, 10); err == nil {
		t.Error("size limit not enforced")
	}
	ok := filepath.Join(dir, "ok")
	os.WriteFile(ok, []byte("héllo\n"), 0o644)
	if data, err := Text(ok, 0); err != nil || string(data) != "héllo\n" {
		t.Errorf("text: %q %v", data, err)
	}
}

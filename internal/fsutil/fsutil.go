// Package fsutil writes files so that a reader never sees half of one:
// temporary name in the target directory, fsync, rename, fsync directory.
package fsutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/satchel-dev/satchel/manifest"
)

// WriteFileAtomic writes data to path atomically (see WriteAtomic).
func WriteFileAtomic(path string, data []byte, mode os.FileMode, force bool) error {
	return WriteAtomic(path, mode, force, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic writes path through write so that a reader never sees half
// of it: a temporary file in the same directory, buffered, chmod, fsync,
// then a hard link (or rename, with force) into place and an fsync of the
// directory. Without force an existing path is refused with a remedy, also
// when it appears while writing. On error nothing is left behind.
func WriteAtomic(path string, mode os.FileMode, force bool, write func(io.Writer) error) (err error) {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return manifest.Hintf("choose another output name or pass --force to replace it",
				"%s exists", path)
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if force {
		err = os.Rename(tmp.Name(), path)
	} else {
		// A hard link fails if path appeared meanwhile; file systems without
		// hard links (FAT on a USB stick) fall back to a checked rename.
		err = os.Link(tmp.Name(), path)
		switch {
		case err == nil:
			os.Remove(tmp.Name())
		case errors.Is(err, os.ErrExist):
			err = manifest.Hintf("choose another output name or pass --force to replace it", "%s exists", path)
		default:
			if _, statErr := os.Lstat(path); statErr == nil {
				err = manifest.Hintf("choose another output name or pass --force to replace it", "%s exists", path)
			} else {
				err = os.Rename(tmp.Name(), path)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable; some file systems cannot fsync a
// directory, which is not worth failing for.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// TypeName names a file mode's type for people ("directory", "named pipe
// (FIFO)"), not as Go's mode string ("d---------").
func TypeName(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	case m.IsRegular():
		return "regular file"
	}
	return "special file"
}

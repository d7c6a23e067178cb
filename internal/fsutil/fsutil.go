// Package fsutil writes files so that a reader never sees half of one:
// temporary name in the target directory, fsync, rename, fsync directory.
package fsutil

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/satchel-dev/satchel/manifest"
)

// WriteFileAtomic writes data to path atomically. Without force an existing
// path is refused with a hint.
func WriteFileAtomic(path string, data []byte, mode os.FileMode, force bool) error {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return manifest.Hintf("choose another output path, or pass --force to replace it", "%s exists", path)
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

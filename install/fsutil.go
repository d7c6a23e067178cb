package install

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// tempSuffix marks the installer's temporary files, so a crash leaves names
// the next run recognizes and removes.
const tempSuffix = ".satchel-tmp"

// tempName is the deterministic temporary name for target in a run's step:
// recovery can find and remove it without scanning.
func tempName(target, tag string) string {
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+"."+tag+tempSuffix)
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// missingDirs returns the directories MkdirAll(dir) would create, outermost
// first, so a journal can record them before they exist.
func missingDirs(dir string) ([]string, error) {
	var out []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Lstat(d)
		if err == nil {
			if !fi.IsDir() {
				// A symlinked parent was already vetted by SafeJoin; Stat follows it.
				if st, err := os.Stat(d); err != nil || !st.IsDir() {
					return nil, fmt.Errorf("%s exists and is not a directory", d)
				}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out = append([]string{d}, out...)
		if d == filepath.Dir(d) {
			break
		}
	}
	return out, nil
}

// mkdirs creates dirs (outermost first) with mode 0755 and syncs each parent.
func mkdirs(dirs []string) error {
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		// Mkdir obeys the umask; installed trees get 0755 whatever it is.
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic streams r into tmp (in target's directory), fsyncs it, sets
// mode and renames it over target, then fsyncs the directory. A failure
// leaves target as it was and removes tmp.
func writeAtomic(target, tmp string, r io.Reader, mode os.FileMode) (err error) {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return err
	}
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, target); err != nil {
		return err
	}
	return syncDir(filepath.Dir(target))
}

// symlinkAtomic points target at linkText by renaming a fresh link over it.
func symlinkAtomic(target, tmp, linkText string) error {
	os.Remove(tmp)
	if err := os.Symlink(linkText, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(target))
}

// copyAside makes dst a byte-exact copy of src (a regular file or a
// symlink) with the same mode: a hard link when both are on one filesystem,
// since the rename that follows leaves the old inode alone; a copy otherwise.
// The copy is made under dst+tempSuffix and renamed.
func copyAside(src, dst string) error { return copyVia(src, dst, dst+tempSuffix) }

// copyVia is copyAside through the temporary name tmp.
func copyVia(src, dst, tmp string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	dirs, err := missingDirs(filepath.Dir(dst))
	if err != nil {
		return err
	}
	if err := mkdirs(dirs); err != nil {
		return err
	}
	os.Remove(tmp)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return symlinkAtomic(dst, tmp, t)
	case fi.Mode().IsRegular():
		if err := os.Link(src, tmp); err == nil {
			if err := os.Rename(tmp, dst); err != nil {
				os.Remove(tmp)
				return err
			}
			return syncDir(filepath.Dir(dst))
		}
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		return writeAtomic(dst, tmp, f, fi.Mode().Perm())
	default:
		return fmt.Errorf("%s is a %s, not a file or symlink", src, fi.Mode().Type())
	}
}

// moveBack puts a backup in place of target: a rename (atomic), or a copy
// and removal across filesystems.
func moveBack(backup, target string) error {
	if err := os.Rename(backup, target); err == nil {
		return syncDir(filepath.Dir(target))
	}
	if err := copyAside(backup, target); err != nil {
		return err
	}
	return os.Remove(backup)
}

// removeFile removes a file or symlink; absence is success.
func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(p))
}

// removeEmptyDirs removes dirs (innermost first) that are empty.
func removeEmptyDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err == nil {
			syncDir(filepath.Dir(dirs[i]))
		}
	}
}

// fileDigest returns the sha256 of a regular file's content.
func fileDigest(p string) (manifest.Digest, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return manifest.FromHash(manifest.SHA256, h), nil
}

// existing describes what is at a path now.
type existing struct {
	Kind   string // "", "file", "symlink", "other"
	Mode   os.FileMode
	Digest manifest.Digest // files
	Target string          // symlinks
}

func inspect(p string) (existing, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return existing{}, nil
	}
	if err != nil {
		return existing{}, err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(p)
		if err != nil {
			return existing{}, err
		}
		return existing{Kind: "symlink", Target: t}, nil
	case fi.Mode().IsRegular():
		d, err := fileDigest(p)
		if err != nil {
			return existing{}, err
		}
		return existing{Kind: "file", Mode: fi.Mode().Perm(), Digest: d}, nil
	default:
		return existing{Kind: "other", Mode: fi.Mode()}, nil
	}
}

// readSmall reads a config-sized file; absence is (nil, false, nil).
func readSmall(p string) ([]byte, bool, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// inRoot renders a host path (absolute) for messages, relative to root.
func displayPath(root, p string) string {
	if root == "/" || root == "" {
		return p
	}
	r := strings.TrimPrefix(p, filepath.Clean(root))
	if r == "" {
		return "/"
	}
	return r
}

package verify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

const unsafePathHint = "refusing to write outside the target; the bundle or archive may be malicious, so check where it came from"

func unsafePath(format string, args ...any) error {
	return verificationError(fmt.Errorf(format, args...), unsafePathHint)
}

// CleanPath checks a name from an archive or the index and returns it as a
// clean relative slash path ("./bin/ctr" → "bin/ctr", "bin/" → "bin"). It
// refuses empty names, absolute names, names with NUL, and names with any
// ".." element (even one that cleaning would cancel out). A name that denotes
// the archive root itself ("." or "./") returns ".", which callers skip.
// Refusals are manifest.VerificationError.
func CleanPath(name string) (string, error) {
	if name == "" {
		return "", unsafePath("empty path name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", unsafePath("path %q contains a NUL byte", name)
	}
	if strings.HasPrefix(name, "/") {
		return "", unsafePath("absolute path %q", name)
	}
	for _, e := range strings.Split(name, "/") {
		if e == ".." {
			return "", unsafePath("path %q contains \"..\"", name)
		}
	}
	return path.Clean(name), nil
}

// inRoot turns an absolute-in-root path (/usr/local/bin/runc) or a relative
// one into a clean relative slash path, "." for the root itself.
func inRoot(p string) (string, error) {
	if p == "" {
		return "", unsafePath("empty path name")
	}
	rel := strings.TrimLeft(p, "/")
	if rel == "" {
		return ".", nil
	}
	return CleanPath(rel)
}

// SafeJoin maps target, an absolute path inside root such as
// /usr/local/bin/runc, to the host path filepath.Join(root, target). It
// refuses ".." elements and NUL, and it refuses the path when an existing
// parent directory under root is a symlink that resolves outside root (as the
// kernel would resolve it: absolute link targets from the host's /). The last
// element is not followed: callers replace it by rename or inspect it with
// Lstat. With root "/" nothing can leave the root and no file system check is
// made. Refusals are manifest.VerificationError.
func SafeJoin(root, target string) (string, error) {
	if root == "" {
		return "", errors.New("SafeJoin: empty root")
	}
	rel, err := inRoot(target)
	if err != nil {
		return "", err
	}
	joined := filepath.Join(root, filepath.FromSlash(rel))
	if filepath.Clean(root) == "/" || rel == "." {
		return joined, nil
	}
	if err := checkParents(root, rel); err != nil {
		return "", err
	}
	return joined, nil
}

// checkParents resolves every existing parent of root/rel that is a symlink
// and fails when one leads outside root.
func checkParents(root, rel string) error {
	// Absolute, so that EvalSymlinks returns absolute paths to compare.
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // nothing exists under a missing root, so nothing can lead out
	}
	if err != nil {
		return fmt.Errorf("resolving root %s: %w", root, err)
	}
	elems := strings.Split(rel, "/")
	p := root
	for i, e := range elems[:len(elems)-1] {
		p = filepath.Join(p, e)
		// Lstat follows the symlinks among the earlier elements, which were
		// checked already, and reports the last one as it is.
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // nothing below a missing directory exists
		}
		if err != nil {
			return fmt.Errorf("checking %s: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return unsafePath("%s: parent %s is a symlink that cannot be resolved: %v", "/"+rel, "/"+strings.Join(elems[:i+1], "/"), err)
		}
		if !within(realRoot, real) {
			return unsafePath("%s: parent %s is a symlink to %s, outside the root %s", "/"+rel, "/"+strings.Join(elems[:i+1], "/"), real, root)
		}
	}
	return nil
}

// within reports whether the absolute, clean path p is root or below it.
func within(root, p string) bool {
	if root == string(filepath.Separator) {
		return true
	}
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

// CheckLinkTarget refuses a symlink at linkPath (an absolute-in-root path or
// an archive name) whose target leaves root. The target is read as it will
// be read once root is the system's /: an absolute target from root, a
// relative one from the link's directory; a ".." that climbs above root is
// refused, as is any existing parent of the target that is a symlink out of
// root (see SafeJoin). Refusals are manifest.VerificationError.
func CheckLinkTarget(root, linkPath, target string) error {
	if root == "" {
		return errors.New("CheckLinkTarget: empty root")
	}
	link, err := inRoot(linkPath)
	if err != nil {
		return err
	}
	if link == "." {
		return unsafePath("a symlink cannot replace the root")
	}
	if target == "" {
		return unsafePath("symlink %s has an empty target", "/"+link)
	}
	if strings.IndexByte(target, 0) >= 0 {
		return unsafePath("symlink %s: target contains a NUL byte", "/"+link)
	}
	var stack []string
	if !strings.HasPrefix(target, "/") {
		if d := path.Dir(link); d != "." {
			stack = strings.Split(d, "/")
		}
	}
	for _, e := range strings.Split(target, "/") {
		switch e {
		case "", ".":
		case "..":
			if len(stack) == 0 {
				return unsafePath("symlink %s -> %s points outside the root", "/"+link, target)
			}
			stack = stack[:len(stack)-1]
		default:
			stack = append(stack, e)
		}
	}
	dest := "/" + strings.Join(stack, "/")
	if _, err := SafeJoin(root, dest); err != nil {
		return fmt.Errorf("symlink %s -> %s: %w", "/"+link, target, err)
	}
	return nil
}

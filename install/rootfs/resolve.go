package rootfs

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// maxLinks bounds symlink expansion, as the kernel's 40 (ELOOP).
const maxLinks = 40

// ErrLoop is returned by Resolve after too many symlinks.
var ErrLoop = errors.New("too many levels of symbolic links")

// Resolve returns where p leads on the installed system, the root being
// "/": every symlink among its components is followed (absolute link
// text from the root; ".." at the root stays there, as in a chroot), and
// so is the last component when final is set. Components that do not
// exist end the resolution: the rest is appended as it is. Nothing is
// written or opened for reading.
//
// Planners resolve before they write, check the resolved path against
// where a file may go, and then write the resolved path, which the write
// operations open without following links: a link swapped in between is
// refused, not followed.
func (r *Root) Resolve(p Path, final bool) (Path, error) {
	todo := p.elems()
	var done []string
	links := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := Path("/" + strings.Join(append(slices.Clone(done), name), "/"))
		if len(todo) == 0 && !final {
			done = append(done, name)
			break
		}
		info, err := r.Lstat(cur)
		if err != nil {
			if isNotExist(err) {
				done = append(done, name)
				done = append(done, todo...)
				return cleanJoin(done), nil
			}
			return "", err
		}
		if !info.IsSymlink() {
			if len(todo) > 0 && !info.IsDir() {
				return "", &PathError{Op: "resolve", Path: string(p), Err: fmt.Errorf("%s is a %s, not a directory", cur, typeName(info.Mode))}
			}
			done = append(done, name)
			continue
		}
		links++
		if links > maxLinks {
			return "", &PathError{Op: "resolve", Path: string(p), Err: ErrLoop}
		}
		if strings.IndexByte(info.Target, 0) >= 0 || info.Target == "" {
			return "", &PathError{Op: "resolve", Path: string(p), Err: fmt.Errorf("symlink %s has an unusable target", cur)}
		}
		if strings.HasPrefix(info.Target, "/") {
			done = done[:0]
		}
		todo = append(strings.Split(strings.Trim(info.Target, "/"), "/"), todo...)
	}
	return cleanJoin(done), nil
}

// cleanJoin makes a Path of names that may still hold "." or "..".
func cleanJoin(names []string) Path {
	var out []string
	for _, n := range names {
		switch n {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, n)
		}
	}
	return Path("/" + strings.Join(out, "/"))
}

func sortStrings(s []string) { slices.Sort(s) }

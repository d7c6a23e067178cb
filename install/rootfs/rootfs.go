// Package rootfs changes files beneath a root directory that stands for
// "/" of the system being installed, without ever following a symlink.
//
// A signed bundle is trusted to say who built it, not to be honest: a
// bundle that ships /opt/x -> ../etc and then a file /opt/x/passwd, or a
// host where /opt/x already is such a link, must not get a write into
// /etc. So every operation here opens the parent directory of its target
// one component at a time and refuses any component that is a symlink:
// with openat2(2) and RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS where the kernel
// has it (Linux 5.6+), and by walking with openat(O_PATH|O_NOFOLLOW|
// O_DIRECTORY) where it does not (Kylin V10's 4.19 answers ENOSYS). The
// last component is then acted on relative to that directory, again
// without following it (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, renameat, unlinkat).
//
// Paths are in-root paths (type Path); host paths never cross this API
// except through HostPath, for messages and for external tools.
// Resolve follows links the way the installed system will (the root is
// "/"), so a planner can see where a path really leads before deciding to
// write there.
package rootfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/satchel-dev/satchel/internal/fsutil"
	"golang.org/x/sys/unix"
)

// Path is an absolute, clean path inside the root, such as
// /usr/local/bin/runc. The zero value is invalid.
type Path string

// ParsePath checks that s is an absolute, clean path without NUL or
// control characters and returns it as a Path.
func ParsePath(s string) (Path, error) {
	if !strings.HasPrefix(s, "/") {
		return "", &PathError{Op: "parse", Path: s, Err: errors.New("not an absolute path")}
	}
	if path.Clean(s) != s {
		return "", &PathError{Op: "parse", Path: s, Err: errors.New("not a clean path")}
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", &PathError{Op: "parse", Path: s, Err: errors.New("control character in path")}
		}
	}
	return Path(s), nil
}

// MustPath is ParsePath for constants; it panics on a bad path.
func MustPath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the path as text.
func (p Path) String() string { return string(p) }

// Dir returns the parent directory ("/" for "/" and for top-level names).
func (p Path) Dir() Path { return Path(path.Dir(string(p))) }

// Base returns the last element.
func (p Path) Base() string { return path.Base(string(p)) }

// Join appends elements, which must not contain ".." or "/".
func (p Path) Join(elem ...string) Path {
	return Path(path.Join(append([]string{string(p)}, elem...)...))
}

// Within reports whether p is dir or below it.
func (p Path) Within(dir Path) bool {
	return dir == "/" || p == dir || strings.HasPrefix(string(p), string(dir)+"/")
}

// elems splits p into its names ("/" has none).
func (p Path) elems() []string {
	s := strings.TrimPrefix(string(p), "/")
	if s == "" {
		return nil
	}
	return strings.Split(s, "/")
}

// PathError is a failed operation on an in-root path.
type PathError struct {
	Op   string
	Path string
	Err  error
}

func (e *PathError) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }
func (e *PathError) Unwrap() error { return e.Err }

// SymlinkError reports that a directory on the way to a path is a symlink,
// which writes never pass through.
type SymlinkError struct {
	// Path is the path asked for; Link the component that is a symlink,
	// and Target its text.
	Path, Link, Target string
}

func (e *SymlinkError) Error() string {
	return fmt.Sprintf("%s: %s is a symlink (to %s); satchel writes only through real directories", e.Path, e.Link, e.Target)
}

// ErrNotRegular is returned when a file to be read is not a regular file
// (a FIFO, a device, a directory): reading it could block or never end.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned by ReadFile when a file exceeds the limit.
var ErrTooLarge = errors.New("file too large")

// Resolver names how parent directories are opened.
type Resolver string

const (
	// ResolverOpenat2 uses openat2(2) with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS.
	ResolverOpenat2 Resolver = "openat2"
	// ResolverWalk opens one component at a time with O_NOFOLLOW (kernels before 5.6).
	ResolverWalk Resolver = "walk"
)

// Root is an open root directory. It is safe for concurrent use.
type Root struct {
	dir      string
	fd       int
	resolver Resolver
}

// Option configures Open.
type Option func(*Root)

// WithResolver forces a resolver (tests of the 4.19 code path).
func WithResolver(r Resolver) Option { return func(rt *Root) { rt.resolver = r } }

var (
	openat2Once sync.Once
	openat2OK   bool
)

// openat2Available probes the kernel once: ENOSYS (Linux < 5.6, or a
// seccomp filter that answers like one) or EPERM (a filter that refuses
// unknown calls) means no.
func openat2Available() bool {
	openat2Once.Do(func() {
		fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC})
		if err == nil {
			unix.Close(fd)
			openat2OK = true
		}
	})
	return openat2OK
}

// Open opens dir as a root. dir itself may be reached through symlinks
// (it is the caller's choice); nothing below it is.
func Open(dir string, opts ...Option) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &PathError{Op: "open root", Path: abs, Err: err}
	}
	r := &Root{dir: abs, fd: fd}
	for _, o := range opts {
		o(r)
	}
	if r.resolver == "" {
		r.resolver = ResolverWalk
		if openat2Available() {
			r.resolver = ResolverOpenat2
		}
	}
	return r, nil
}

// Close releases the root's descriptor.
func (r *Root) Close() error { return unix.Close(r.fd) }

// Dir returns the root's host directory.
func (r *Root) Dir() string { return r.dir }

// Resolver reports how this root opens directories.
func (r *Root) Resolver() Resolver { return r.resolver }

// HostPath is where p is on the host, for messages and external tools. It
// does not check anything: operate through Root, not through this.
func (r *Root) HostPath(p Path) string {
	if r.dir == "/" {
		return string(p)
	}
	return filepath.Join(r.dir, filepath.FromSlash(string(p)))
}

// openDir opens the directory p (every component a real directory) as an
// O_PATH descriptor.
func (r *Root) openDir(p Path, op string) (int, error) {
	rel := strings.TrimPrefix(string(p), "/")
	if rel == "" {
		return unix.Dup(r.fd)
	}
	if r.resolver == ResolverOpenat2 {
		fd, err := unix.Openat2(r.fd, rel, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == nil {
			return fd, nil
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV) {
			// Find which component is the link, for a message people can act on.
			if _, werr := r.walk(p, op); werr != nil {
				return -1, werr
			}
		}
		return -1, &PathError{Op: op, Path: string(p), Err: err}
	}
	return r.walk(p, op)
}

// walk opens p one component at a time, refusing symlinks.
func (r *Root) walk(p Path, op string) (int, error) {
	fd, err := unix.Dup(r.fd)
	if err != nil {
		return -1, err
	}
	cur := Path("/")
	for _, name := range p.elems() {
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			serr := r.explain(fd, cur.Join(name), p, op, err)
			unix.Close(fd)
			return -1, serr
		}
		unix.Close(fd)
		fd = next
		cur = cur.Join(name)
	}
	return fd, nil
}

// explain turns a failed directory open into an error that names a
// symlink component when that is the cause.
func (r *Root) explain(parent int, comp, asked Path, op string, err error) error {
	var st unix.Stat_t
	if unix.Fstatat(parent, comp.Base(), &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		t, _ := readlinkat(parent, comp.Base())
		return &SymlinkError{Path: string(asked), Link: string(comp), Target: t}
	}
	if errors.Is(err, unix.ENOTDIR) {
		return &PathError{Op: op, Path: string(asked), Err: fmt.Errorf("%s is not a directory", comp)}
	}
	return &PathError{Op: op, Path: string(asked), Err: err}
}

// parent opens p's directory; the caller closes it.
func (r *Root) parent(p Path, op string) (int, string, error) {
	if p == "/" {
		return -1, "", &PathError{Op: op, Path: "/", Err: errors.New("the root itself")}
	}
	fd, err := r.openDir(p.Dir(), op)
	return fd, p.Base(), err
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size > 1<<16 {
			return "", unix.ENAMETOOLONG
		}
	}
}

// Info describes what is at a path, without following a final symlink.
type Info struct {
	Mode fs.FileMode // type and permission bits
	Size int64
	UID  int
	GID  int
	// Target is a symlink's text.
	Target  string
	ModTime time.Time
	// Dev and Inode identify the file (hard links share them).
	Dev, Inode uint64
}

// IsRegular, IsDir and IsSymlink classify Info.Mode.
func (i Info) IsRegular() bool { return i.Mode.IsRegular() }
func (i Info) IsDir() bool     { return i.Mode.IsDir() }
func (i Info) IsSymlink() bool { return i.Mode&fs.ModeSymlink != 0 }

// Lstat describes p; fs.ErrNotExist when nothing is there (also when a
// parent is missing).
func (r *Root) Lstat(p Path) (Info, error) {
	if p == "/" {
		var st unix.Stat_t
		if err := unix.Fstat(r.fd, &st); err != nil {
			return Info{}, err
		}
		return infoOf(&st), nil
	}
	dfd, name, err := r.parent(p, "lstat")
	if err != nil {
		if isNotExist(err) {
			return Info{}, &PathError{Op: "lstat", Path: string(p), Err: fs.ErrNotExist}
		}
		return Info{}, err
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Info{}, &PathError{Op: "lstat", Path: string(p), Err: toFS(err)}
	}
	info := infoOf(&st)
	if info.IsSymlink() {
		if info.Target, err = readlinkat(dfd, name); err != nil {
			return Info{}, &PathError{Op: "readlink", Path: string(p), Err: err}
		}
	}
	return info, nil
}

func infoOf(st *unix.Stat_t) Info {
	m := fs.FileMode(st.Mode & 0o777)
	if st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	return Info{Mode: m, Size: st.Size, UID: int(st.Uid), GID: int(st.Gid), ModTime: time.Unix(st.Mtim.Unix()), Dev: uint64(st.Dev), Inode: st.Ino}
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOENT)
}

// toFS maps errno values to the io/fs sentinels callers test with errors.Is.
func toFS(err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fs.ErrNotExist
	case errors.Is(err, unix.EEXIST):
		return fs.ErrExist
	}
	return err
}

// Open opens a regular file for reading without following a final
// symlink and without blocking on a FIFO; anything but a regular file is
// ErrNotRegular.
func (r *Root) Open(p Path) (*os.File, error) {
	dfd, name, err := r.parent(p, "open")
	if err != nil {
		if isNotExist(err) {
			return nil, &PathError{Op: "open", Path: string(p), Err: fs.ErrNotExist}
		}
		return nil, err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			err = fmt.Errorf("%w (a symlink)", ErrNotRegular)
		}
		return nil, &PathError{Op: "open", Path: string(p), Err: toFS(err)}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &PathError{Op: "open", Path: string(p), Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &PathError{Op: "open", Path: string(p), Err: fmt.Errorf("%w (%s)", ErrNotRegular, infoOf(&st).Mode.Type())}
	}
	// Back to blocking reads for a regular file (O_NONBLOCK has no effect on them anyway).
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
		unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	return os.NewFile(uintptr(fd), r.HostPath(p)), nil
}

// ReadFile reads a regular file of at most max bytes. A missing file is
// (nil, fs.ErrNotExist) wrapped in a PathError.
func (r *Root) ReadFile(p Path, max int64) ([]byte, error) {
	f, err := r.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &PathError{Op: "read", Path: string(p), Err: err}
	}
	if int64(len(b)) > max {
		return nil, &PathError{Op: "read", Path: string(p), Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)}
	}
	return b, nil
}

// Owner is a file's numeric owner; -1 keeps what the creating process gets.
type Owner struct{ UID, GID int }

// NoOwner leaves ownership to the process that writes (root when installing).
var NoOwner = Owner{UID: -1, GID: -1}

// WriteFile atomically replaces p with the bytes of src: a new file under
// the temporary name tmp in p's directory (created exclusively, never
// through a link), mode perm and owner set, fsynced, renamed over p, the
// directory fsynced. A failure leaves p as it was and removes tmp.
func (r *Root) WriteFile(p Path, tmp string, src io.Reader, perm fs.FileMode, owner Owner) (err error) {
	if err := checkName(tmp); err != nil {
		return err
	}
	dfd, name, err := r.parent(p, "write")
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	unix.Unlinkat(dfd, tmp, 0) // a leftover of a crash
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &PathError{Op: "create", Path: string(p.Dir().Join(tmp)), Err: err}
	}
	f := os.NewFile(uintptr(fd), r.HostPath(p.Dir().Join(tmp)))
	defer func() {
		if err != nil {
			f.Close()
			unix.Unlinkat(dfd, tmp, 0)
		}
	}()
	if _, err = io.Copy(f, src); err != nil {
		return &PathError{Op: "write", Path: string(p), Err: err}
	}
	if owner != NoOwner {
		if err = f.Chown(owner.UID, owner.GID); err != nil {
			return &PathError{Op: "chown", Path: string(p), Err: err}
		}
	}
	// After chown, which clears setuid bits; and never through the umask.
	if err = f.Chmod(perm); err != nil {
		return &PathError{Op: "chmod", Path: string(p), Err: err}
	}
	if err = f.Sync(); err != nil {
		return &PathError{Op: "fsync", Path: string(p), Err: err}
	}
	if err = f.Close(); err != nil {
		return &PathError{Op: "close", Path: string(p), Err: err}
	}
	if err = unix.Renameat(dfd, tmp, dfd, name); err != nil {
		return &PathError{Op: "rename", Path: string(p), Err: err}
	}
	return syncFD(dfd)
}

// Symlink atomically makes p a symlink with the text target, through the
// temporary name tmp.
func (r *Root) Symlink(target string, p Path, tmp string) error {
	if err := checkName(tmp); err != nil {
		return err
	}
	dfd, name, err := r.parent(p, "symlink")
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	unix.Unlinkat(dfd, tmp, 0)
	if err := unix.Symlinkat(target, dfd, tmp); err != nil {
		return &PathError{Op: "symlink", Path: string(p), Err: err}
	}
	if err := unix.Renameat(dfd, tmp, dfd, name); err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return &PathError{Op: "rename", Path: string(p), Err: err}
	}
	return syncFD(dfd)
}

// Mkdir creates one directory with mode perm (not subject to the umask);
// an existing directory is fs.ErrExist.
func (r *Root) Mkdir(p Path, perm fs.FileMode) error {
	dfd, name, err := r.parent(p, "mkdir")
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Mkdirat(dfd, name, uint32(perm.Perm())); err != nil {
		return &PathError{Op: "mkdir", Path: string(p), Err: toFS(err)}
	}
	if err := unix.Fchmodat(dfd, name, uint32(perm.Perm()), 0); err != nil {
		return &PathError{Op: "chmod", Path: string(p), Err: err}
	}
	return syncFD(dfd)
}

// MissingDirs returns the directories MkdirAll(p) would create, outermost
// first, so a journal can record them before they exist. A component that
// exists and is not a directory is an error (a symlink: *SymlinkError).
func (r *Root) MissingDirs(p Path) ([]Path, error) {
	var missing []Path
	for d := p; ; d = d.Dir() {
		info, err := r.Lstat(d)
		if err == nil {
			if info.IsSymlink() {
				return nil, &SymlinkError{Path: string(p), Link: string(d), Target: info.Target}
			}
			if !info.IsDir() {
				return nil, &PathError{Op: "mkdir", Path: string(p), Err: fmt.Errorf("%s exists and is a %s, not a directory", d, typeName(info.Mode))}
			}
			break
		}
		if !isNotExist(err) {
			return nil, err
		}
		missing = append([]Path{d}, missing...)
		if d == "/" {
			break
		}
	}
	return missing, nil
}

// MkdirAll creates p and its missing parents with mode 0755 and returns
// the ones it created itself, outermost first.
func (r *Root) MkdirAll(p Path) ([]Path, error) {
	dirs, err := r.MissingDirs(p)
	if err != nil {
		return nil, err
	}
	var made []Path
	for _, d := range dirs {
		err := r.Mkdir(d, 0o755)
		switch {
		case errors.Is(err, fs.ErrExist):
			// Someone else made it meanwhile: not ours to record.
		case err != nil:
			return made, err
		default:
			made = append(made, d)
		}
	}
	return made, nil
}

// Remove removes a file or symlink; absence is success.
func (r *Root) Remove(p Path) error {
	dfd, name, err := r.parent(p, "remove")
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, name, 0); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &PathError{Op: "remove", Path: string(p), Err: err}
	}
	return syncFD(dfd)
}

// RemoveDir removes an empty directory; absence is success, a non-empty
// one is an error wrapping unix.ENOTEMPTY.
func (r *Root) RemoveDir(p Path) error {
	dfd, name, err := r.parent(p, "rmdir")
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &PathError{Op: "rmdir", Path: string(p), Err: err}
	}
	return syncFD(dfd)
}

// RemoveAll removes p and everything below it without following links;
// absence is success.
func (r *Root) RemoveAll(p Path) error {
	info, err := r.Lstat(p)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return err
	}
	if info.IsDir() {
		names, err := r.ReadDir(p)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := r.RemoveAll(p.Join(n)); err != nil {
				return err
			}
		}
		return r.RemoveDir(p)
	}
	return r.Remove(p)
}

// ReadDir lists the names in directory p, sorted.
func (r *Root) ReadDir(p Path) ([]string, error) {
	var fd int
	var err error
	if p == "/" {
		fd, err = unix.Openat(r.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	} else {
		var dfd int
		var name string
		dfd, name, err = r.parent(p, "readdir")
		if err != nil {
			if isNotExist(err) {
				return nil, &PathError{Op: "readdir", Path: string(p), Err: fs.ErrNotExist}
			}
			return nil, err
		}
		fd, err = unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dfd)
	}
	if err != nil {
		return nil, &PathError{Op: "readdir", Path: string(p), Err: toFS(err)}
	}
	f := os.NewFile(uintptr(fd), r.HostPath(p))
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, &PathError{Op: "readdir", Path: string(p), Err: err}
	}
	sortStrings(names)
	return names, nil
}

// Rename moves from to to (both in the root), replacing to.
func (r *Root) Rename(from, to Path) error {
	ffd, fname, err := r.parent(from, "rename")
	if err != nil {
		return err
	}
	defer unix.Close(ffd)
	tfd, tname, err := r.parent(to, "rename")
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := unix.Renameat(ffd, fname, tfd, tname); err != nil {
		return &PathError{Op: "rename", Path: string(from) + " -> " + string(to), Err: toFS(err)}
	}
	if err := syncFD(tfd); err != nil {
		return err
	}
	return syncFD(ffd)
}

// Link makes to a hard link of the file from (not following a symlink).
func (r *Root) Link(from, to Path) error {
	ffd, fname, err := r.parent(from, "link")
	if err != nil {
		return err
	}
	defer unix.Close(ffd)
	tfd, tname, err := r.parent(to, "link")
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := unix.Linkat(ffd, fname, tfd, tname, 0); err != nil {
		return &PathError{Op: "link", Path: string(from) + " -> " + string(to), Err: toFS(err)}
	}
	return syncFD(tfd)
}

// Chmod sets p's permission bits (p must not be a symlink).
func (r *Root) Chmod(p Path, perm fs.FileMode) error {
	dfd, name, err := r.parent(p, "chmod")
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	// fchmodat cannot refuse symlinks on old kernels (AT_SYMLINK_NOFOLLOW is
	// EOPNOTSUPP there), so check first; the parent cannot change under us.
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &PathError{Op: "chmod", Path: string(p), Err: toFS(err)}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return &PathError{Op: "chmod", Path: string(p), Err: errors.New("is a symlink")}
	}
	if err := unix.Fchmodat(dfd, name, uint32(perm.Perm()), 0); err != nil {
		return &PathError{Op: "chmod", Path: string(p), Err: err}
	}
	return nil
}

// checkName refuses temporary names that are not a single path element.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return fmt.Errorf("internal: bad temporary name %q", name)
	}
	return nil
}

func syncFD(dfd int) error {
	// An O_PATH descriptor cannot be fsynced; open the directory itself.
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

func typeName(m fs.FileMode) string { return fsutil.TypeName(m) }

// TypeName names a file mode's type for people ("named pipe (FIFO)",
// "symlink", …), instead of Go's "p---------".
func TypeName(m fs.FileMode) string { return typeName(m) }

// OpenAppend opens (creating with perm) a regular file for appending,
// without following a final symlink.
func (r *Root) OpenAppend(p Path, perm fs.FileMode) (*os.File, error) {
	dfd, name, err := r.parent(p, "open")
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, &PathError{Op: "open", Path: string(p), Err: toFS(err)}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &PathError{Op: "open", Path: string(p), Err: ErrNotRegular}
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
		unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	return os.NewFile(uintptr(fd), r.HostPath(p)), nil
}

// CopyFile makes dst a copy of the regular file or symlink src (same mode
// and owner): a hard link when possible, since every later change to src
// is a rename that leaves the old inode alone; a copy otherwise. tmp is
// the temporary name used in dst's directory.
func (r *Root) CopyFile(src, dst Path, tmp string) error {
	info, err := r.Lstat(src)
	if err != nil {
		return err
	}
	if _, err := r.MkdirAll(dst.Dir()); err != nil {
		return err
	}
	switch {
	case info.IsSymlink():
		return r.Symlink(info.Target, dst, tmp)
	case info.IsRegular():
		t := dst.Dir().Join(tmp)
		if err := r.Remove(t); err != nil {
			return err
		}
		if err := r.Link(src, t); err == nil {
			if err := r.Rename(t, dst); err != nil {
				r.Remove(t)
				return err
			}
			return nil
		}
		f, err := r.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		return r.WriteFile(dst, tmp, f, info.Mode.Perm(), Owner{UID: info.UID, GID: info.GID})
	}
	return &PathError{Op: "copy", Path: string(src), Err: fmt.Errorf("a %s, not a file or symlink", typeName(info.Mode))}
}

// ErrLocked is returned by Lock when another process holds the root's lock.
var ErrLocked = errors.New("locked by another process")

// Lock takes an exclusive advisory lock (flock) on the root directory
// itself, without waiting: no file or directory has to be created to
// take it, so two installers never race to create one.
func (r *Root) Lock() (unlock func(), err error) {
	fd, err := unix.Openat(r.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &PathError{Op: "lock", Path: "/", Err: err}
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, &PathError{Op: "lock", Path: "/", Err: err}
	}
	return func() { unix.Close(fd) }, nil
}

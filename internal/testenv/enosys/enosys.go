//go:build linux && (amd64 || arm64)

// Package enosys makes chosen system calls fail with ENOSYS, as they do on a
// kernel that predates them, so that tests can show how a program behaves on
// a host we cannot boot (Kylin V10's 4.19 kernel has no pidfd_open, openat2,
// clone3, close_range or faccessat2).
//
// Install sets PR_SET_NO_NEW_PRIVS and loads a seccomp BPF filter on every
// thread of the process (SECCOMP_FILTER_FLAG_TSYNC). The filter, and the
// no-new-privileges bit, are inherited by children and kept across execve, so
// Exec runs a whole process tree under it. The filter returns ENOSYS only for
// the named calls of the native ABI (seccomp_data.arch = this build's audit
// arch); calls of another ABI (i386 on x86_64, AArch32 on arm64) and x32 calls
// pass untouched: their numbers mean other things and nothing here uses them.
//
// It is a test tool: no-new-privileges stops setuid programs from gaining
// privileges under it, and the filter cannot be removed once loaded.
package enosys

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// since records the kernel release that added each call (syscalls(2),
// https://man7.org/linux/man-pages/man2/syscalls.2.html, "Kernel" column;
// io_pgetevents and rseq: 4.18). Newer reports the calls newer than a release.
var since = map[string]string{
	"statx":                   "4.11",
	"io_pgetevents":           "4.18",
	"rseq":                    "4.18",
	"pidfd_send_signal":       "5.1",
	"io_uring_setup":          "5.1",
	"io_uring_enter":          "5.1",
	"io_uring_register":       "5.1",
	"open_tree":               "5.2",
	"move_mount":              "5.2",
	"fsopen":                  "5.2",
	"fsconfig":                "5.2",
	"fsmount":                 "5.2",
	"fspick":                  "5.2",
	"pidfd_open":              "5.3",
	"clone3":                  "5.3",
	"openat2":                 "5.6",
	"pidfd_getfd":             "5.6",
	"faccessat2":              "5.8",
	"close_range":             "5.9",
	"process_madvise":         "5.10",
	"epoll_pwait2":            "5.11",
	"mount_setattr":           "5.12",
	"landlock_create_ruleset": "5.13",
	"landlock_add_rule":       "5.13",
	"landlock_restrict_self":  "5.13",
	"memfd_secret":            "5.14",
	"process_mrelease":        "5.15",
	"futex_waitv":             "5.16",
	"set_mempolicy_home_node": "5.17",
	"cachestat":               "6.5",
	"fchmodat2":               "6.6",
}

// Names lists the calls this package knows for the running architecture,
// sorted by the release that added them.
func Names() []string {
	names := make([]string, 0, len(numbers))
	for n := range numbers {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := compareRelease(since[a], since[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return names
}

// Number returns the native system-call number of name.
func Number(name string) (uint32, error) {
	nr, ok := numbers[name]
	if !ok {
		return 0, fmt.Errorf("enosys: unknown system call %q on %s (known: %s)", name, runtime.GOARCH, strings.Join(Names(), ", "))
	}
	return nr, nil
}

// Since returns the kernel release that added name ("" if unknown).
func Since(name string) string { return since[name] }

// Newer returns the known calls that a kernel of the given release
// ("4.19", "4.19.90-52.22.v2207.ky10.aarch64") lacks, unless it backported them.
func Newer(release string) ([]string, error) {
	mm := release
	if i := strings.IndexFunc(mm, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }); i >= 0 {
		mm = mm[:i]
	}
	if parts := strings.Split(mm, "."); len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("enosys: kernel release %q: want MAJOR.MINOR", release)
	} else {
		mm = parts[0] + "." + parts[1]
	}
	var out []string
	for _, n := range Names() {
		if compareRelease(since[n], mm) > 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

func compareRelease(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 2; i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// Filter returns the seccomp BPF program: ENOSYS for the given numbers of
// the native ABI, allow everything else.
func Filter(nrs []uint32) ([]unix.SockFilter, error) {
	// A conditional jump reaches at most 255 instructions ahead.
	if len(nrs) == 0 || len(nrs) > 250 {
		return nil, fmt.Errorf("enosys: %d system calls: want 1 to 250", len(nrs))
	}
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
	}
	const (
		offNr   = 0 // struct seccomp_data { int nr; __u32 arch; __u64 ip; __u64 args[6]; }
		offArch = 4
	)
	prog := []unix.SockFilter{
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch),
		jeq(auditArch, 1, 0),
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW), // another ABI: not ours to judge
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr),
	}
	n := len(nrs)
	for i, nr := range nrs {
		// Equal: jump over the remaining compares and the allow, onto the errno return.
		prog = append(prog, jeq(nr, uint8(n-i), 0))
	}
	prog = append(prog,
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW),
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|(uint32(unix.ENOSYS)&unix.SECCOMP_RET_DATA)),
	)
	return prog, nil
}

// Install loads the filter for the named calls into every thread of this
// process. It cannot be undone: call it only in a process that is about to
// exec the program under test (Exec), or in a throw-away child.
func Install(names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("enosys: no system calls named")
	}
	var nrs []uint32
	for _, name := range names {
		nr, err := Number(name)
		if err != nil {
			return err
		}
		if !slices.Contains(nrs, nr) {
			nrs = append(nrs, nr)
		}
	}
	prog, err := Filter(nrs)
	if err != nil {
		return err
	}
	if err := checkArch(); err != nil {
		return err
	}
	// Without CAP_SYS_ADMIN the kernel accepts a filter only with
	// no_new_privs; TSYNC then sets it on the other threads too.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("enosys: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return fmt.Errorf("enosys: seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): %w", errno)
	}
	if r != 0 {
		// TSYNC reports a thread it could not synchronise by its id.
		return fmt.Errorf("enosys: seccomp TSYNC failed on thread %d", r)
	}
	return nil
}

// checkArch refuses to run where the kernel's ABI is not the one the table is
// for (an amd64 build under qemu-user on arm64, say): the numbers would name
// other calls, and the filter would never match.
func checkArch() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return fmt.Errorf("enosys: uname: %w", err)
	}
	machine := unix.ByteSliceToString(u.Machine[:])
	want := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	if machine != want {
		return fmt.Errorf("enosys: built for %s (%s) but the kernel says %s: run the build for the kernel's architecture", runtime.GOARCH, want, machine)
	}
	return nil
}

// Exec installs the filter and replaces this process with argv (argv[0] is
// looked up in PATH). It returns only on failure.
func Exec(names []string, argv []string, env []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("enosys: no command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	// The filter goes on every thread, but no_new_privs and exec are per
	// thread: keep all three on this one.
	runtime.LockOSThread()
	if err := Install(names); err != nil {
		return err
	}
	return unix.Exec(path, argv, env)
}

//go:build linux && (amd64 || arm64)

package enosys

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Probe makes one harmless call of the named system call and returns its
// error: nil or an errno other than ENOSYS means the kernel has it,
// unix.ENOSYS that it does not (or a filter says so). Each probe has no
// effect on the process: it opens and closes "/", or passes arguments the
// kernel rejects before doing anything.
func Probe(name string) error {
	switch name {
	case "pidfd_open":
		fd, err := unix.PidfdOpen(os.Getpid(), 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "openat2":
		fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC})
		if err == nil {
			unix.Close(fd)
		}
		return err
	case "clone3":
		// A NULL clone_args of size 0: the kernel answers EINVAL before
		// creating anything.
		_, _, errno := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
		return errnoErr(errno)
	case "close_range":
		// A range far above any open descriptor: closes nothing.
		_, _, errno := unix.RawSyscall(unix.SYS_CLOSE_RANGE, 1<<30, 1<<30+1, 0)
		return errnoErr(errno)
	case "faccessat2":
		return unix.Faccessat2(unix.AT_FDCWD, "/", unix.F_OK, 0)
	case "pidfd_send_signal":
		// Not a pidfd: EBADF, nothing is signalled.
		_, _, errno := unix.RawSyscall6(unix.SYS_PIDFD_SEND_SIGNAL, ^uintptr(0), 0, 0, 0, 0, 0)
		return errnoErr(errno)
	case "statx":
		var st unix.Statx_t
		return unix.Statx(unix.AT_FDCWD, "/", 0, unix.STATX_BASIC_STATS, &st)
	}
	return fmt.Errorf("enosys: no probe for %q", name)
}

// Probes lists the names Probe knows.
func Probes() []string {
	return []string{"pidfd_open", "openat2", "clone3", "close_range", "faccessat2", "pidfd_send_signal", "statx"}
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

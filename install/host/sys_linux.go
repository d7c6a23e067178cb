//go:build linux

package host

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func sysUname() (release, machine string, err error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "", "", err
	}
	return cstr(u.Release[:]), cstr(u.Machine[:]), nil
}

func cstr[T int8 | uint8](b []T) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func statfs(path string) (free, dev uint64, err error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(path, &s); err != nil {
		return 0, 0, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, 0, err
	}
	return s.Bavail * uint64(s.Bsize), uint64(st.Dev), nil
}

// KVM ioctls (linux/kvm.h).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
	kvmAPIVersion    = 12
)

// probeKVM does what `kata-runtime check` does with /dev/kvm: open it, check
// the API version, and create (then drop) an empty VM. Nothing persists.
func probeKVM(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		return fmt.Errorf("%s is not a character device", path)
	}
	v, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmGetAPIVersion, 0)
	if errno != 0 {
		return fmt.Errorf("KVM_GET_API_VERSION: %w", errno)
	}
	if v != kvmAPIVersion {
		return fmt.Errorf("KVM API version %d, want %d", v, kvmAPIVersion)
	}
	vm, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), kvmCreateVM, 0)
	if errno != 0 {
		return fmt.Errorf("KVM_CREATE_VM: %w", errno)
	}
	syscall.Close(int(vm))
	return nil
}

// probePidfdOpen asks the kernel for pidfd_open(2) itself, for this
// process: a kernel without it (before 5.3, Kylin V10's 4.19 unless
// backported) answers ENOSYS. Any answer that shows the call ran (a file
// descriptor, or an argument error) means it exists. EPERM is what a
// seccomp filter (a container) answers for calls it does not allow: then
// the host kernel's answer is unknown.
func probePidfdOpen() (bool, error) {
	fd, _, errno := unix.Syscall(unix.SYS_PIDFD_OPEN, uintptr(os.Getpid()), 0, 0)
	switch {
	case errno == 0:
		unix.Close(int(fd))
		return true, nil
	case errors.Is(errno, unix.ENOSYS):
		return false, nil
	case errors.Is(errno, unix.EINVAL), errors.Is(errno, unix.ESRCH), errors.Is(errno, unix.EMFILE),
		errors.Is(errno, unix.ENFILE), errors.Is(errno, unix.ENOMEM):
		return true, nil
	}
	return false, fmt.Errorf("the pidfd_open system call answered %v (a seccomp filter?): cannot tell whether the kernel has it", errno)
}

//go:build linux

package enosys

import "golang.org/x/sys/unix"

// auditArch is what the kernel puts in seccomp_data.arch for this build's
// native system-call ABI (x86_64; not i386 via int 0x80, not x32).
const auditArch = unix.AUDIT_ARCH_X86_64

// numbers maps the names this tool knows to their x86_64 numbers, taken
// from golang.org/x/sys (generated from the kernel's syscall_64.tbl).
var numbers = map[string]uint32{
	"statx":                   unix.SYS_STATX,
	"io_pgetevents":           unix.SYS_IO_PGETEVENTS,
	"rseq":                    unix.SYS_RSEQ,
	"pidfd_send_signal":       unix.SYS_PIDFD_SEND_SIGNAL,
	"io_uring_setup":          unix.SYS_IO_URING_SETUP,
	"io_uring_enter":          unix.SYS_IO_URING_ENTER,
	"io_uring_register":       unix.SYS_IO_URING_REGISTER,
	"open_tree":               unix.SYS_OPEN_TREE,
	"move_mount":              unix.SYS_MOVE_MOUNT,
	"fsopen":                  unix.SYS_FSOPEN,
	"fsconfig":                unix.SYS_FSCONFIG,
	"fsmount":                 unix.SYS_FSMOUNT,
	"fspick":                  unix.SYS_FSPICK,
	"pidfd_open":              unix.SYS_PIDFD_OPEN,
	"clone3":                  unix.SYS_CLONE3,
	"close_range":             unix.SYS_CLOSE_RANGE,
	"openat2":                 unix.SYS_OPENAT2,
	"pidfd_getfd":             unix.SYS_PIDFD_GETFD,
	"faccessat2":              unix.SYS_FACCESSAT2,
	"process_madvise":         unix.SYS_PROCESS_MADVISE,
	"epoll_pwait2":            unix.SYS_EPOLL_PWAIT2,
	"mount_setattr":           unix.SYS_MOUNT_SETATTR,
	"landlock_create_ruleset": unix.SYS_LANDLOCK_CREATE_RULESET,
	"landlock_add_rule":       unix.SYS_LANDLOCK_ADD_RULE,
	"landlock_restrict_self":  unix.SYS_LANDLOCK_RESTRICT_SELF,
	"memfd_secret":            unix.SYS_MEMFD_SECRET,
	"process_mrelease":        unix.SYS_PROCESS_MRELEASE,
	"futex_waitv":             unix.SYS_FUTEX_WAITV,
	"set_mempolicy_home_node": unix.SYS_SET_MEMPOLICY_HOME_NODE,
	"cachestat":               unix.SYS_CACHESTAT,
	"fchmodat2":               unix.SYS_FCHMODAT2,
}

// Package host gathers facts about the machine satchel-install writes to and
// checks them against a bundle before anything is written (preflight).
//
// # Facts
//
// Gather reads, and never writes: /etc/os-release, the C library, package
// databases, PATH directories (iptables, kubelet) and configuration
// (modules-load.d, sysctl.d, /etc/selinux/config, daemon.json,
// containerd's config.toml) under the target root (--root); the running
// kernel from uname, /proc, /sys, /dev, /run and /lib/modules; the page
// size from the auxiliary vector (AT_PAGESZ, which Go's os.Getpagesize
// returns: runtime/os_linux.go sysauxv); pidfd_open(2) by calling it. It
// runs no program of the target. With --root pointing at another system's
// tree, the kernel-side facts still describe the running machine unless
// WithKernel, WithPageSize and the directory options say otherwise: a
// golden image built on one machine boots on another. Every source can be
// redirected (WithProcDir, WithSysDir, ...), so tests run on fake trees
// (testdata/hosts).
//
// A probe that cannot run does not fail Gather: the fact stays unknown and
// Facts.Problems says why; Preflight reports it.
//
// # Preflight
//
// Preflight compares Facts with a bundle index and the selected components
// and returns findings, each with a stable ID, a severity (error, warning,
// info), the component it concerns ("" for the whole bundle), a message and a
// remedy. Checks that describe the running machine (KVM, systemd as init,
// overlay, cgroups, page size, kernel modules, conflicting packages), and
// host tools the tree may still get (iptables), are errors only when the
// target is the live system; installing into a directory, they are
// warnings, since the tree will run elsewhere or is still being built. Failed
// and FailingComponents summarize findings for the exit code (4) and for
// --components. Remedies work on a host without a network: packages come
// from the installation ISO mounted as a local repository.
//
// # What the plan does with the facts
//
// RunscStarts (runsc cannot start: do not register the runsc runtime or
// the gvisor RuntimeClass), VirtiofsdSandbox (add --sandbox=chroot to
// kata's virtio_fs_extra_args), ModulesToLoad (write ModulesLoadFile),
// SysctlsToSet (write SysctlFile) turn facts into settings, so that the
// plan and the findings agree.
//
// # Stable finding IDs
//
// IDs never change meaning; a new check gets a new ID. Severities in
// parentheses are those on the live system (see above for a directory).
//
//	ID                 severity            component            when
//	os                 info                -                    a known operating system
//	os-unknown         warning             -                    another or no /etc/os-release
//	component-missing  error               the component        a selected component is not in the bundle
//	arch-unsupported   error               -                    the bundle has no build for the target's architecture
//	platform-missing   error               the component        a component has no build for the target's platform
//	kernel-too-old     error               -                    kernel below the bundle's requirements.minKernel
//	page-size          (error)             gvisor               runsc's page size differs from the kernel's (64 KiB aarch64 kernels)
//	overlay-missing    (error)             containerd, docker   no overlay filesystem
//	cgroup             info                -                    the cgroup mode; on v1, why v1 is right below kernel 5.8
//	cgroup-missing     (error)             containerd           no cgroup filesystem mounted
//	kubelet-cgroup-v1  info                -                    cgroup v1: kubelet ≥ 1.35 needs failCgroupV1: false
//	systemd-not-init   warning             -                    systemd is not PID 1 (or not in the tree)
//	glibc              info                -                    the target's C library
//	glibc-too-old      error or warning    the component        a component's files need a newer glibc (warning: glibc unknown)
//	kvm-missing        (error)             kata                 /dev/kvm missing or cannot create a VM
//	cpu-virt-missing   (error)             kata                 x86 CPU flags show neither vmx nor svm
//	virtiofsd-pidfd    (warning)           kata                 the kata's virtiofsd (≥ 1.4) needs pidfd_open, which the kernel lacks
//	module-missing     (error or warning)  kata, docker, cni    a kernel module they need is not loaded, built in or loadable
//	selinux            info                -                    SELinux is on: what the engines do about labels
//	selinux            info or warning     gvisor               gVisor cannot run labelled containers (warning: labelling is on)
//	selinux            info                kata                 kata's SELinux settings
//	iptables           info                -                    the iptables found and its backend (legacy, nf_tables)
//	iptables-missing   (error)             docker, cni          no iptables in the target
//	iptables-missing   (warning)           -                    no iptables, with neither docker nor cni selected
//	ip6tables-missing  warning             docker, cni          IPv6 is on and there is no ip6tables
//	cni-subnet         (error)             cni                  the default container network overlaps a host route
//	ip-forward         info                -                    IPv4 forwarding is off now (apply turns it on)
//	ip-forward         warning             -                    a sysctl file applied after satchel's turns forwarding off at boot
//	package-conflict   error or warning    the component        a packaged engine (warning: runc, or into a directory)
//	binary-conflict    warning             the component        an engine binary on PATH from no package
//	disk-space         error               -                    not enough free space on a filesystem
//	probe-failed       warning             -                    a fact could not be gathered
//
// The bundle's compatibility notes (manifest.Note) are findings too, under
// their own IDs. A note whose ID ends in "glibc-X.Y" or "kernel-X.Y" (e.g.
// "kata-glibc-2.34") applies only to a target below that version; other
// notes always apply to the components they name.
package host

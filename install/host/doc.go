// Package host gathers facts about the machine satchel-install writes to and
// checks them against a bundle before anything is written (preflight).
//
// # Facts
//
// Gather reads, and never writes: /etc/os-release, the C library, package
// databases and PATH directories under the target root (--root); the running
// kernel from uname, /proc, /sys, /dev and /run. With --root pointing at
// another system's tree, the kernel-side facts still describe the running
// machine unless WithKernel (and the directory options) say otherwise: a
// golden image built on one machine boots on another. Every source can be
// redirected (WithProcDir, WithSysDir, ...), so tests run on fake trees.
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
// overlay, cgroups, conflicting packages) are errors only when the target is
// the live system; installing into a directory, they are warnings, since the
// tree will run elsewhere. Failed and FailingComponents summarize findings for
// the exit code (4) and for --components.
//
// # Stable finding IDs
//
// os, os-unknown, component-missing, arch-unsupported, platform-missing,
// kernel-too-old, overlay-missing, cgroup, cgroup-missing, systemd-not-init,
// glibc, glibc-too-old, kvm-missing, cpu-virt-missing, package-conflict,
// binary-conflict, disk-space, probe-failed, and the IDs of the bundle's
// compatibility notes (manifest.Note). A note whose ID ends in
// "glibc-X.Y" or "kernel-X.Y" (e.g. "kata-glibc-2.34") applies only to a
// target below that version; other notes always apply to the components
// they name.
package host

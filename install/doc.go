// Package install is satchel's installer engine: it verifies a bundle,
// checks the host, plans every change, and carries the plan out with a
// journal so that an interrupted or failed install is rolled back. The
// command satchel-install (cmd/install) is a thin layer over it.
//
//	in, _ := install.New(install.WithRoot("/"), install.WithKeys("satchel.pub"))
//	src, _ := in.Open(ctx, "kylin-runtimes-2025.04.0.satchel") // signature, index, layout
//	defer src.Close()
//	p, _ := in.Plan(ctx, src)                                   // preflight + every change
//	rep, _ := in.Apply(ctx, src)                                // the same plan, carried out
//
// # Layers
//
// This package only wires the layers below it together:
//
//   - rootfs: every file operation beneath the root, never following a
//     symlink (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or a component
//     walk on kernels without it, such as Kylin V10's 4.19);
//   - host: facts about the host and preflight findings;
//   - probe: what is in the root (files, resolved through the host's
//     symlinks as the installed system will resolve them) and what running
//     services say (units, images, kubectl);
//   - plan: a pure function from the bundle's index, facts, probed data,
//     the recorded state and the options to a list of actions;
//   - txn: the executor, one journaled step per action, with rollback and
//     recovery; it acts through rootfs, runner (external commands),
//     systemd and images;
//   - config: the renderers of containerd, Docker, crictl and Kubernetes
//     configuration, and the tracking of the settings satchel merges;
//   - state: state.json, what the last apply installed.
//
// # Trust
//
// Open reads satchel.json and its signature and verifies the signature
// with the keys from WithKeys and <root>/etc/satchel/keys/*.pub (read
// inside the root, never through a symlink) before the index is decoded;
// then the bundle's layout is checked against the index, every target path
// must be clean and under /usr/local or /opt, and the bundle must belong to
// the installed series with a sequence no lower than any this root has had
// (WithAllowSeriesChange, WithAllowDowngrade). The plan resolves every
// path through the host's symlinks and refuses one that leads out of its
// lane; the executor writes the resolved path without following links, so
// a link swapped in meanwhile is refused, not followed. No program from the
// bundle runs while planning or installing. Apply checks every blob's
// digest before it writes anything. Verification failures carry exit code
// 3 (manifest.ExitVerification) and leave the root untouched.
//
// # Plan
//
// Plan runs preflight and lists every change: bundle files and symlinks
// (new, replaced or unchanged, by content digest), the installer's own
// copy, configuration files rendered or merged by package config (with
// unified diffs; an existing file keeps its mode and owner), units, image
// imports or staged image archives, services to reload, enable, start or
// restart, kubectl apply of the RuntimeClasses, files of an earlier
// install to remove, restore or revert, and state.json. Apply takes the
// lock, makes the same plan and carries out exactly its changes; a second
// Apply with the same bundle has none.
//
// # Crash safety
//
// Every write goes to a temporary name in the target directory, is
// fsynced and renamed, and the directory fsynced. Before each step a line
// is appended to the journal (/var/lib/satchel/journal.jsonl) and fsynced,
// saying what the step is about to do and where the file it replaces is
// kept: files that were there before satchel under
// /var/lib/satchel/backups/original (until uninstall), files of an earlier
// satchel install under /var/lib/satchel/backups/run/<run> (until the run
// commits). Writing state.json is the commit. A failed step undoes the
// run's steps in reverse; the next run does the same for a run that was
// killed, or finishes one that had committed. Undoing is idempotent, so a
// crash during rollback is repaired by the next run too. The environment
// variable SATCHEL_TEST_CRASH_AFTER_STEP=N makes the process exit with
// status 137 right after step N (N- : right after recording it), for kill
// tests.
//
// # Images
//
// Images are never copied to disk when containerd runs: an OCI image
// layout (oci-layout, index.json annotated with the reference, a Docker
// manifest.json for `docker load`, blobs/sha256/…) is generated on the fly
// from the bundle's blobs and streamed into `ctr images import -` for
// namespace k8s.io (and WithNamespaces), pinned with
// io.cri-containerd.pinned=pinned, and into `docker load` when Docker
// runs. When containerd cannot be reached (WithNoStart, a root that is
// not "/", no socket) the archives are staged under
// /var/lib/satchel/images with satchel-images.service, which runs
// `satchel-install images import --staged` (ImportStaged) at first start.
//
// # After the fact
//
// Status reads state.json and checks every recorded file; Uninstall
// disables the units, removes what satchel wrote and puts back every file
// it replaced, byte for byte; in a configuration people edited since, it
// takes out only the settings satchel made and keeps theirs; any other
// file changed since is left alone and reported. Doctor checks the running
// stack end to end.
//
// This package and everything it imports contain no network client.
package install

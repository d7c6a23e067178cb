// Package config renders and merges the configuration files satchel-install
// writes: containerd's config.toml (and drop-in), runsc.toml, registry
// hosts.toml files, Docker's daemon.json, crictl.yaml, systemd units,
// Kubernetes RuntimeClass manifests and a profile.d script.
//
// Every function here is pure: it takes options and the current content of a
// file (nil when the file does not exist) and returns the bytes to write. Nothing
// reads or writes the disk; the installer engine does that under --root, with
// backups and a journal (and supplies further existing files through
// ContainerdOptions.ReadFile).
//
// # Merging, never clobbering
//
// An existing file is parsed and re-encoded with a real parser
// (pelletier/go-toml/v2, encoding/json, sigs.k8s.io/yaml), never edited as
// text. Every key the user had is kept; the keys satchel owns are set. When
// the merge changes nothing, the existing bytes are returned unchanged, so a
// second run of the installer writes nothing. Rendering onto satchel's own
// output always yields the same bytes (idempotence). Re-encoding drops
// comments; a warning says so, and the engine keeps a backup.
//
// # containerd schema by version
//
//   - 1.3–1.7: config `version = 2`, a structured merge into config.toml
//     (in 1.x an imported file's plugin section replaces the main file's whole
//     section, so a drop-in would wipe the user's CRI settings).
//   - 2.0–2.2: `version = 3`; 2.3+: `version = 4` (version 4 moves only the
//     server settings — grpc, ttrpc, debug, metrics — into plugins; the CRI
//     sections are those of version 3). satchel's settings go into a drop-in,
//     /etc/containerd/conf.d/satchel.toml, and config.toml gets an `imports`
//     entry; from 2.0 plugin sections of imported files deep-merge.
//
// containerd refuses a drop-in whose version is higher than the root file's,
// so a drop-in is written in the root file's (older, still supported) schema
// when config.toml is older than the bundled containerd's; containerd migrates
// both on load.
//
// # Docker
//
// daemon.json names runsc by path (what `runsc install` writes) and kata by
// runtimeType io.containerd.kata.v2: kata 2.x/3.x has no OCI CLI, so the path
// form fails with `Invalid command "create"`. The containerd socket is passed
// by docker.service's --containerd flag, never in daemon.json: dockerd refuses a
// directive given both as a flag and in the file.
//
// # systemd
//
// Units use only directives systemd 239 (Kylin V10) understands.
package config

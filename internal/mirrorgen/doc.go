// Package mirrorgen builds a fake upstream: the release files of a resolved
// plan laid out as github.com, download.docker.com and storage.googleapis.com
// serve them, with checksum files in their real formats, served over
// loopback HTTP; and small images pushed to a registry. Tests, `make demo`
// and the end-to-end tests point satchel-bundle at it with --mirror.
//
// # Site
//
// Generate writes each artifact of a profiles.Resolved at
// dir/<host>/<URL path> in its upstream shape: containerd's bin/…, Docker's
// docker/…, kata's ./opt/kata/… tree packed from "." as kata-deploy does
// (.tar.xz, .tar.zst from 3.21) with its configuration symlinks, nerdctl's
// flat archive with the rootless scripts, crictl's single file, runc and
// gVisor as plain binaries. Checksum files follow upstream: containerd's
// <asset>.sha256sum, runc.sha256sum in a PGP clear-signed frame (with a
// labelled stand-in signature block: nothing here can sign for runc),
// gVisor's <file>.sha512, nerdctl's SHA256SUMS, crictl's bare-hex
// <asset>.sha256; Docker and kata publish none. Output is deterministic:
// fixed mtimes, uid/gid 0, sorted entries, single-threaded compressors.
//
// # Content
//
// A ContentSource supplies the bytes of each file. StandIn, the default,
// writes small labelled stand-ins ("satchel demo stand-in for containerd
// 2.0.4, not the real program"; kata's configuration.toml has kata's real
// keys). FromFiles takes real programs from disk by name, for ELF realism.
//
// Stand-ins cannot match the real digests a profile pins, so Generate
// refuses pinned artifacts. Build demo and test plans from DemoSpec: the
// kylin-v10 versions without a profile and without digests, so that lock
// takes every digest from the generated checksum files or the download.
//
// # Serving
//
// Serve starts a loopback file server (Range requests work, via
// http.FileServer); MirrorFlags gives the --mirror FROM=TO values that send
// every upstream host to it.
//
// # Images
//
// PushImage builds a small OCI image (one layer from the given files, an
// index when several platforms are asked for) and pushes it to a registry;
// PushDemoImages pushes stand-ins for DemoSpec's nginx and pause images.
package mirrorgen

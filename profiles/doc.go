// Package profiles holds satchel's built-in component sets and the catalog
// that turns a component version into upstream URLs, checksum files and
// install rules.
//
// # Profiles
//
// A profile (data/*.yaml, compiled in) names a version of every component,
// the images, the platforms and the digests it vouches for. Pins are keyed by
// artifact URL and say where each digest was copied from; a pin with no digest
// marks an artifact nobody pins publicly (Docker's static archives), which
// `satchel-bundle lock` pins from the download. Built-ins:
//
//   - kylin-v10: Kylin Linux Advanced Server V10 (glibc 2.28, kernel 4.19),
//     maintained and patched releases (kata-static 3.7.0, the newest kata
//     that runs on glibc 2.28, on both arches).
//   - kylin-v10-2025: the seed's 2025 set, known CVEs included. kata-static
//     3.1.3 exists for x86_64 only, so the profile gives linux/arm64
//     kata-static 3.2.0 as a per-platform release (versions) with a note.
//   - modern: current releases for hosts with glibc 2.34 or newer, from
//     kubespray's checksums.yml.
//
// A component's versions field gives a platform another release, and its
// platforms field limits where it ships; every resolved artifact carries its
// own release, which lock and the signed index record.
//
// # Resolve
//
// Resolve lays a spec over its profile and the catalog (see its doc for the
// precedence rules) and returns every artifact per platform with its digest
// (spec, profile, or empty for lock), checksum file, archive kind and
// FileRules. Mistakes are reported per field with a hint line.
//
// # Catalog
//
// URL patterns, arch spellings (amd64/arm64 for containerd, runc, nerdctl,
// crictl and kata 3.2.0+; x86_64/aarch64 for Docker, gVisor and kata up to
// 3.1.x, which is x86_64 only), archive kinds (kata .tar.zst from 3.21) and
// checksum files follow UPSTREAM.md. Files go where DESIGN.md says:
// commands to /usr/local/bin with mode 0755, the kata tree to /opt/kata with
// its own modes plus links for kata-runtime and containerd-shim-kata-v2.
//
// Docker's static archive also carries containerd, ctr,
// containerd-shim-runc-v2 and runc. Its rules name only docker, dockerd,
// docker-init and docker-proxy; the bundled containerd trio is added only
// when the bundle has no containerd component, and the bundled runc only
// when it has no runc component (each with an info note). Otherwise Docker's
// copies would overwrite the pinned components in /usr/local/bin, and which
// one won would depend on install order.
//
// # Compatibility notes
//
// CompatNotes knows the combinations UPSTREAM.md records as bad (Docker 26+
// with kata before 3.29, kata 3.14+ and glibc 2.34, containerd 2.1+ dynamic
// and glibc 2.35, kata 3.12+ virtiofsd on Kylin V10, how Docker must name
// kata). Notes that depend on the host carry a machine-readable ID (GlibcNeed
// reads "<component>-glibc-<x.y>") for the installer's preflight to decide.
//
// # Security and end-of-life notes
//
// advisories.yaml holds notes of kind security (CVE ids, affected ranges,
// fixed-in releases, source) and eol (date, source) about upstream
// releases. Every resolution evaluates them, and the profile's own notes
// and the compatibility rules, per artifact against the artifact's own
// release. KnownVulnerable picks the security notes, which
// `satchel-bundle build --strict` refuses.
//
// This package imports no network code.
package profiles

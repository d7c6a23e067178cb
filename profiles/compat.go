package profiles

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/manifest"
)

// Note IDs emitted by CompatNotes. The installer's preflight matches on them;
// IDs of the form "<component>-glibc-<x.y>" mean "<component> needs glibc
// x.y or newer on the host" (see GlibcNeed).
const (
	NoteDockerKataNetwork     = "docker-kata-network"
	NoteKataGlibc             = "kata-glibc-2.34"
	NoteContainerdGlibc       = "containerd-glibc-2.35"
	NoteKataVirtiofsdKylinV10 = "kata-virtiofsd-kylin-v10"
	NoteDockerKataRuntimeType = "docker-kata-runtimetype"
	NoteGvisorShimContainerd  = "gvisor-shim-containerd-1.7"
)

var glibcNoteRE = regexp.MustCompile(`^([a-z0-9]+)-glibc-([0-9]+\.[0-9]+)$`)

// GlibcNeed reads a glibc requirement note: the component and the lowest
// glibc it runs on. Preflight compares that with the host's glibc, which only
// the host can tell, so the note carries the requirement and not a verdict.
func GlibcNeed(n manifest.Note) (component, minGlibc string, ok bool) {
	m := glibcNoteRE.FindStringSubmatch(n.ID)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

type compVersion struct {
	name, variant string
	v             component.Version
	raw           string
}

// CompatNotes returns the known-bad (and notable) combinations among
// components, given as name → version. A containerd version may carry its
// variant as "2.1.0+static"; without one, containerd counts as the dynamic
// build (upstream's plain tarball). Versions that do not parse are ignored.
func CompatNotes(components map[string]string) []manifest.Note {
	var cs []compVersion
	for _, name := range manifest.KnownComponents {
		raw, ok := components[name]
		if !ok {
			continue
		}
		ver, variant, _ := strings.Cut(raw, "+")
		v, err := component.ParseVersion(name, ver)
		if err != nil {
			continue
		}
		cs = append(cs, compVersion{name: name, variant: variant, v: v, raw: ver})
	}
	return compatNotes(cs)
}

func compatNotes(cs []compVersion) []manifest.Note {
	get := func(name string) (compVersion, bool) {
		i := slices.IndexFunc(cs, func(c compVersion) bool { return c.name == name })
		if i < 0 {
			return compVersion{}, false
		}
		return cs[i], true
	}
	var notes []manifest.Note
	docker, hasDocker := get("docker")
	kata, hasKata := get("kata")
	if containerd, ok := get("containerd"); ok && containerd.v.AtLeast("2.1.0") && containerd.variant != "static" {
		notes = append(notes, manifest.Note{ID: NoteContainerdGlibc, Component: "containerd", Severity: "warning",
			Text: fmt.Sprintf("containerd %s (dynamic build) needs glibc 2.35 or newer; the static variant does not (containerd#11685). Preflight checks the host's glibc.", containerd.raw)})
	}
	if hasKata && kata.v.AtLeast("3.14.0") {
		notes = append(notes, manifest.Note{ID: NoteKataGlibc, Component: "kata", Severity: "warning",
			Text: fmt.Sprintf("kata %s needs glibc 2.34 or newer: its Go runtime and shim are built on Ubuntu 22.04 since 3.14, on 20.04 up to 3.13 (kata-containers .github/workflows/build-kata-static-tarball-*.yaml). Preflight checks the host's glibc.", kata.raw)})
	}
	if hasKata && kata.v.AtLeast("3.12.0") {
		notes = append(notes, manifest.Note{ID: NoteKataVirtiofsdKylinV10, Component: "kata", Severity: "warning",
			Text: fmt.Sprintf("kata %s on Kylin V10: kata 3.12.0 passes `kata-runtime check` on Kylin V10 SP3 but containers fail to start, virtiofsd vhost-fs.sock: Connection refused (kata-containers#11139; QEMU 9.1.2, virtiofsd 1.8.0). Later releases ship newer QEMU and virtiofsd and are unverified there; kata 3.1.3 (QEMU 7.2.0, virtiofsd 1.3.0) is the one chosen for Kylin V10.", kata.raw)})
	}
	if containerd, ok := get("containerd"); ok {
		if _, hasGvisor := get("gvisor"); hasGvisor && containerd.v.Below("1.7.0") {
			notes = append(notes, manifest.Note{ID: NoteGvisorShimContainerd, Component: "gvisor", Severity: "warning",
				Text: fmt.Sprintf("containerd %s cannot start gVisor's containerd-shim-runsc-v1 (current shims answer with containerd 2's JSON bootstrap parameters, which containerd 1.7+ reads), so the installer registers runsc as a runc-compatible binary under io.containerd.runc.v2. That runs runsc containers from ctr, nerdctl and Docker, but Kubernetes (CRI) pods with RuntimeClass runsc do not start: StartContainer times out although runsc started the process (seen in satchel's test/e2e with containerd 1.6.20, also with full capabilities). Use containerd 1.7 or later for gVisor under Kubernetes.", containerd.raw)})
		}
	}
	if hasDocker && hasKata {
		if docker.v.AtLeast("26.0.0") && kata.v.Below("3.29.0") {
			notes = append(notes, manifest.Note{ID: NoteDockerKataNetwork, Component: "kata", Severity: "warning",
				Text: fmt.Sprintf("Docker %s with kata %s: kata containers started by Docker have no network; kata's docs ask for kata 3.29 or newer with Docker 26+ (moby#47626, kata-containers#9340). Run kata through containerd (crictl, nerdctl, Kubernetes) or use kata 3.29+.", docker.raw, kata.raw)})
		}
		if docker.v.Below("24.0.0") {
			notes = append(notes, manifest.Note{ID: NoteDockerKataRuntimeType, Component: "docker", Severity: "warning",
				Text: fmt.Sprintf("Docker %s predates \"runtimeType\" in daemon.json (Docker 24), so daemon.json cannot name kata as a runtime; run it with `docker run --runtime io.containerd.kata.v2` (Docker 23+). The \"path\" form fails with Invalid command \"create\" (kata-containers#10223).", docker.raw)})
		} else {
			notes = append(notes, manifest.Note{ID: NoteDockerKataRuntimeType, Component: "docker", Severity: "info",
				Text: "Docker runs kata by \"runtimeType\": \"io.containerd.kata.v2\" (shim v2, Docker 24+) and runsc by \"path\". The \"path\" form for kata 2.x/3.x fails with Invalid command \"create\": kata removed its OCI CLI (kata-containers/runtime#3038, kata-containers#10223)."})
		}
	}
	return notes
}

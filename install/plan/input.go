package plan

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// Input is everything a plan is made from.
type Input struct {
	// Index is the verified bundle index; Bundle identifies it (platform and
	// components are filled in by the plan).
	Index  *manifest.Index
	Bundle state.BundleInfo
	// Blobs reads the bundle's blobs (image manifests and configs, staged
	// archive digests) and Files its files (kata's default configuration):
	// reading the bundle is reading data, not the host.
	Blobs images.BlobReader
	Files BundleFiles
	// Provenance is the bundle's provenance envelope (nil when it has
	// none), kept at state.ProvenancePath with the SBOM the index names.
	Provenance []byte
	// Facts are the host's facts, gathered by the probe.
	Facts *host.Facts
	// Preflight is the preflight report for the selection.
	Preflight *Preflight
	Target    Target
	// Previous is the recorded state (nil: nothing installed).
	Previous *state.State
	// Interrupted names the run of a journal an interrupted apply or
	// uninstall left, and its kind ("" for none).
	Interrupted, InterruptedKind string
	Tree                         Tree
	Observed                     Observed
	Options                      Options
	// ArchiveDigest, when set, computes (and may remember) the digest of an
	// image's archive for the target platform; by default images.ArchiveDigest.
	ArchiveDigest func(im *manifest.Image) (manifest.Digest, error)
}

// BundleFiles reads the content of the bundle's files.
type BundleFiles interface {
	OpenFile(f manifest.File) (io.ReadCloser, error)
}

// Target describes where the plan installs.
type Target struct {
	// Root is the root directory as the user named it (for reports).
	Root string
	// Platform is "linux/amd64" or "linux/arm64": which files to install.
	Platform string
	// Live is set when the root is the running system.
	Live bool
	// Online is set when services can be started now (live and systemd is PID 1).
	Online bool
	// Systemd is set when the target boots with systemd (runc then uses
	// the systemd cgroup driver).
	Systemd bool
}

// Options are the user's choices.
type Options struct {
	// Components limits the install to these (and what they need).
	Components []string
	// NoStart enables services without starting them; images are staged.
	NoStart        bool
	DefaultRuntime string
	// RegistryMirrors become containerd hosts.toml files (and Docker's
	// registry-mirrors where Docker can use them).
	RegistryMirrors []config.RegistryMirror
	// RegistryCA is the PEM CA of the https registry mirrors
	// (config.ParseRegistryCA checked it), installed for containerd and Docker.
	RegistryCA []byte
	// Namespaces are containerd namespaces images go into besides k8s.io
	// and default.
	Namespaces []string
	// CNISubnet is the default network's subnet ("" for config.DefaultCNISubnet).
	CNISubnet string
	// Kubeconfig, when set, has the RuntimeClasses applied with kubectl.
	Kubeconfig string
	// RestrictOOMScoreAdj sets CRI's restrict_oom_score_adj (test hosts).
	RestrictOOMScoreAdj bool
	// Self is the installer binary copied to /usr/local/bin ("" to skip),
	// with its digest and size.
	Self       string
	SelfDigest manifest.Digest
	SelfSize   int64
}

// Observed is what the probe saw of running services.
type Observed struct {
	// Units maps a unit name to what systemd says of it.
	Units map[string]UnitState
	// ContainerdUp is set when containerd's socket is there (live roots only).
	ContainerdUp bool
	// BinDir is where bundled tools are installed, as commands name it
	// (a host path, or the in-root path when commands run inside the root).
	BinDir string
	// HostTools maps ctr, docker and kubectl to where PATH finds them on the host.
	HostTools map[string]string
	// Docker is the docker CLI that answers for an already installed Docker
	// on the running system ("" when none).
	Docker string
	// Images maps a namespace to what containerd has in it; a namespace
	// missing here could not be listed (ImageErrors says why).
	Images      map[string]map[string]images.Present
	ImageErrors map[string]string
	// DockerUp is set when dockerd answers; DockerImages maps a reference
	// to Docker's image ID for it.
	DockerUp     bool
	DockerImages map[string]string
	// Kubectl is the kubectl to apply RuntimeClasses with ("" when none);
	// RuntimeClasses lists the RuntimeClasses the cluster has.
	Kubectl        string
	RuntimeClasses []string
}

// UnitState is what systemd says of a unit.
type UnitState struct {
	Enabled bool
	Active  bool
}

// EntryKind classifies what is at a path.
type EntryKind string

// Entry kinds.
const (
	EntryNone    EntryKind = ""
	EntryFile    EntryKind = "file"
	EntrySymlink EntryKind = "symlink"
	EntryDir     EntryKind = "dir"
	EntryOther   EntryKind = "other"
)

// Entry is what the probe found at a path.
type Entry struct {
	// Path is the path asked about; Resolved where it leads once symlinks
	// among its parents are followed, as on the installed system. The
	// other fields describe Resolved.
	Path     rootfs.Path
	Resolved rootfs.Path
	// ResolveErr is set when the path cannot be resolved (a loop, a file
	// used as a directory).
	ResolveErr string
	Kind       EntryKind
	Mode       fs.FileMode
	UID, GID   int
	Size       int64
	Digest     manifest.Digest // regular files
	Target     string          // symlinks
}

// Exists reports whether something is at the path.
func (e Entry) Exists() bool { return e.Kind != EntryNone }

// Tree is what the probe gathered of the root's files.
type Tree interface {
	// Entry describes p; ok is false when the probe did not look at p.
	Entry(p rootfs.Path) (e Entry, ok bool)
	// Content is the content of a small regular file at p (nil when there
	// is none); ok is false when the probe did not read it.
	Content(p rootfs.Path) (b []byte, ok bool)
	// List is the names in directory p (nil when there is none); ok is
	// false when the probe did not list it.
	List(p rootfs.Path) (names []string, ok bool)
}

// NeedError says the plan needs to know about paths the probe did not
// gather. The caller gathers them and makes the plan again.
type NeedError struct {
	Entries  []rootfs.Path
	Contents []rootfs.Path
	Lists    []rootfs.Path
}

func (e *NeedError) Error() string {
	return fmt.Sprintf("the plan needs %d more paths probed, %d read and %d listed", len(e.Entries), len(e.Contents), len(e.Lists))
}

// needs records lookups the tree could not answer.
type needs struct {
	entries, contents, lists []rootfs.Path
}

func (n *needs) err() error {
	if len(n.entries) == 0 && len(n.contents) == 0 && len(n.lists) == 0 {
		return nil
	}
	return &NeedError{Entries: n.entries, Contents: n.contents, Lists: n.lists}
}

func (n *needs) list(t Tree, p rootfs.Path) []string {
	names, ok := t.List(p)
	if !ok {
		if !slices.Contains(n.lists, p) {
			n.lists = append(n.lists, p)
		}
		return nil
	}
	return names
}

func (n *needs) entry(t Tree, p rootfs.Path) Entry {
	e, ok := t.Entry(p)
	if !ok {
		if !slices.Contains(n.entries, p) {
			n.entries = append(n.entries, p)
		}
		return Entry{Path: p, Resolved: p}
	}
	return e
}

func (n *needs) content(t Tree, p rootfs.Path) []byte {
	b, ok := t.Content(p)
	if !ok {
		if !slices.Contains(n.contents, p) {
			n.contents = append(n.contents, p)
		}
		return nil
	}
	return b
}

// MapTree is a Tree held in memory: what the probe fills in, and what
// tests write by hand.
type MapTree struct {
	Entries  map[rootfs.Path]Entry
	Contents map[rootfs.Path][]byte
	Lists    map[rootfs.Path][]string
}

// NewMapTree returns an empty tree.
func NewMapTree() *MapTree {
	return &MapTree{Entries: map[rootfs.Path]Entry{}, Contents: map[rootfs.Path][]byte{}, Lists: map[rootfs.Path][]string{}}
}

// List implements Tree.
func (t *MapTree) List(p rootfs.Path) ([]string, bool) { n, ok := t.Lists[p]; return n, ok }

// Entry implements Tree.
func (t *MapTree) Entry(p rootfs.Path) (Entry, bool) { e, ok := t.Entries[p]; return e, ok }

// Content implements Tree.
func (t *MapTree) Content(p rootfs.Path) ([]byte, bool) { b, ok := t.Contents[p]; return b, ok }

func joinComma(s []string) string { return strings.Join(s, ", ") }

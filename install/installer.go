package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/importer"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/probe"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/install/systemd"
	"github.com/satchel-dev/satchel/install/txn"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
)

// Event is one progress report (package txn).
type Event = txn.Event

// Event kinds.
const (
	EventPhase = txn.EventPhase
	EventStep  = txn.EventStep
	EventBytes = txn.EventBytes
)

// Installer installs into one root. Create it with New; it is not safe
// for concurrent use (a lock file keeps two processes apart).
type Installer struct {
	o     options
	root  *rootfs.Root
	facts *host.Facts
}

// New returns an Installer for the options.
func New(opts ...Option) (*Installer, error) {
	o := options{root: "/", runner: runner.ExecRunner{}, containerdSocket: DefaultContainerdSocket, dockerSocket: DefaultDockerSocket, now: time.Now}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(o.root)
	if err != nil {
		return nil, err
	}
	o.root = abs
	if fi, err := os.Stat(o.root); err != nil || !fi.IsDir() {
		return nil, manifest.Hintf("create the directory first, or pass --root / for this machine", "root %s is not a directory", o.root)
	}
	if o.plan.Self == "" {
		if exe, err := os.Executable(); err == nil {
			o.plan.Self = exe
		}
	}
	var ropts []rootfs.Option
	if o.resolver != "" {
		ropts = append(ropts, rootfs.WithResolver(o.resolver))
	}
	root, err := rootfs.Open(o.root, ropts...)
	if err != nil {
		return nil, err
	}
	return &Installer{o: o, root: root, facts: o.facts}, nil
}

// Close releases the root.
func (in *Installer) Close() error { return in.root.Close() }

// Root returns the root directory installs go into.
func (in *Installer) Root() string { return in.o.root }

// Live reports whether the installer works on the running system (root is "/").
func (in *Installer) Live() bool { return in.o.root == "/" || in.o.live }

// Facts returns the host facts (package host) for the root, gathered once.
func (in *Installer) Facts() (*host.Facts, error) {
	if in.facts == nil {
		f, err := host.Gather(in.o.root, in.o.hostOpts...)
		if err != nil {
			return nil, err
		}
		in.facts = f
	}
	return in.facts, nil
}

// online reports whether units can be started now: the root is the
// running system and systemd runs as PID 1.
func (in *Installer) online() bool {
	f, err := in.Facts()
	return err == nil && in.Live() && f.SystemdInit
}

func (in *Installer) target() (plan.Target, error) {
	f, err := in.Facts()
	if err != nil {
		return plan.Target{}, err
	}
	t := plan.Target{Root: in.o.root, Platform: f.Platform(), Live: in.Live(), Online: in.online(), Systemd: f.SystemdInit}
	if !in.Live() {
		t.Systemd = f.SystemdInstalled
	}
	return t, nil
}

func (in *Installer) warnf(format string, args ...any) {
	if in.o.warn != nil {
		in.o.warn(fmt.Sprintf(format, args...))
	}
}

func (in *Installer) progress(e Event) {
	if in.o.progress != nil {
		in.o.progress(e)
	}
}

func (in *Installer) phase(desc string) { in.progress(Event{Kind: EventPhase, Desc: desc}) }

func (in *Installer) systemd() *systemd.Manager {
	return &systemd.Manager{Root: in.root, Runner: in.o.runner, Online: in.online()}
}

func (in *Installer) images() *importer.Client {
	return &importer.Client{Runner: in.o.runner, ContainerdSocket: in.o.containerdSocket, DockerSocket: in.o.dockerSocket, InNamespace: in.o.inNamespace,
		Progress: func(desc string, done, total int64) {
			in.progress(Event{Kind: EventBytes, Desc: desc, Done: done, Total: total})
		}}
}

// env is what the executor acts with.
func (in *Installer) env(bundle txn.Bundle) *txn.Env {
	return &txn.Env{Root: in.root, Runner: in.o.runner, Systemd: in.systemd(), Images: in.images(), Bundle: bundle,
		Kubeconfig: in.o.plan.Kubeconfig, Progress: in.o.progress, Warn: in.o.warn, Now: in.o.now}
}

func (in *Installer) services() *probe.Services {
	return &probe.Services{Root: in.root, Runner: in.o.runner, Systemd: in.systemd(), Images: in.images(), Live: in.Live(), InNamespace: in.o.inNamespace}
}

// readState reads state.json.
func (in *Installer) readState() (*state.State, error) { return state.Read(in.root) }

// lock keeps two installers off one root: a flock on the root directory,
// taken before anything is created, then satchel's state directory. It
// returns the directories of state.Dir it created, so a run can record them.
func (in *Installer) lock() (unlock func(), created []rootfs.Path, err error) {
	unlock, err = in.root.Lock()
	if errors.Is(err, rootfs.ErrLocked) {
		return nil, nil, manifest.Hintf("wait for the other satchel-install to finish",
			"another satchel-install is working on %s", in.o.root)
	}
	if err != nil {
		return nil, nil, err
	}
	created, err = in.root.MkdirAll(state.Dir)
	if err != nil {
		unlock()
		return nil, nil, fmt.Errorf("creating %s: %w", state.Dir, err)
	}
	return unlock, created, nil
}

// legacyLockPath is the lock file of satchel-install 0.1.
const legacyLockPath rootfs.Path = state.Dir + "/lock"

// cleanupIfEmpty removes the lock and satchel's own directories when no
// install is recorded (a rolled-back first install, a finished uninstall),
// so the root is as it was before satchel. dirs are more directories to
// remove when empty.
func (in *Installer) cleanupIfEmpty(dirs ...rootfs.Path) {
	if st, err := in.readState(); err != nil || st != nil {
		return
	}
	if j, err := txn.Read(in.root); err != nil || j != nil {
		return
	}
	in.root.Remove(legacyLockPath)
	txn.PruneStateDirs(in.root)
	in.root.RemoveDir(state.Dir)
	dirs = slices.Clone(dirs)
	// Deepest first, so parents empty out before they are tried.
	slices.SortFunc(dirs, func(a, b rootfs.Path) int { return strings.Count(string(b), "/") - strings.Count(string(a), "/") })
	for _, d := range dirs {
		in.root.RemoveDir(d)
	}
}

// maxProbeRounds bounds the probe ↔ plan exchange (each round asks for
// what the last one revealed: files, then the configs among them, then
// files they name).
const maxProbeRounds = 6

// makePlan probes the root until plan.Make has all it needs.
func (in *Installer) makePlan(ctx context.Context, src *Source, pre *plan.Preflight) (*plan.Plan, error) {
	t, err := in.target()
	if err != nil {
		return nil, err
	}
	prev, err := in.readState()
	if err != nil {
		return nil, err
	}
	j, err := txn.Read(in.root)
	if err != nil {
		return nil, err
	}
	facts, _ := in.Facts()
	svc := in.services()
	svc.Units = []string{"containerd.service", "docker.service", "satchel-images.service"}
	svc.Namespaces = namespaces(in.o.plan.Namespaces)
	svc.Kubeconfig = in.o.plan.Kubeconfig
	for _, im := range src.Index.Images {
		svc.Refs = append(svc.Refs, im.Ref)
	}
	opts := in.o.plan
	if opts.Self != "" {
		// A self-extracting .run copies only its program part, not the
		// bundle it carries.
		n, err := pack.ProgramLength(opts.Self)
		if err != nil {
			return nil, fmt.Errorf("reading the installer %s: %w", opts.Self, err)
		}
		if opts.SelfDigest, err = fileDigest(opts.Self, n); err != nil {
			return nil, fmt.Errorf("reading the installer %s: %w", opts.Self, err)
		}
		opts.SelfSize = n
	}
	input := plan.Input{
		Index: src.Index, Bundle: src.info(), Blobs: src.bundle, Files: src.bundle, Provenance: src.bundle.Provenance(), Facts: facts, Preflight: pre, Target: t, Previous: prev,
		Observed: probe.Observe(ctx, svc), Options: opts, ArchiveDigest: memoArchiveDigest(src, t.Platform),
	}
	if j != nil {
		input.Interrupted, input.InterruptedKind = j.RunID, string(j.Kind)
	}
	tree := plan.NewMapTree()
	input.Tree = tree
	for range maxProbeRounds {
		p, err := plan.Make(input)
		var need *plan.NeedError
		if !errors.As(err, &need) {
			return p, err
		}
		if err := probe.Fill(in.root, tree, need); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("internal: the plan kept asking for more of the tree")
}

func namespaces(extra []string) []string {
	ns := []string{DefaultNamespace, plan.ClientNamespace}
	for _, n := range extra {
		if !contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return ns
}

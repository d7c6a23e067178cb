package install

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/verify"
)

// Default sockets, as the rendered configs and units set them up.
const (
	DefaultContainerdSocket = "/run/containerd/containerd.sock"
	DefaultDockerSocket     = "/var/run/docker.sock"
	// DefaultNamespace is where Kubernetes (CRI) looks for images.
	DefaultNamespace = "k8s.io"
)

// Installer carries out installs into one root. Create it with New; it is
// not safe for concurrent use (a lock file keeps two processes apart).
type Installer struct {
	root             string
	keyFiles         []string
	insecure         bool
	allowDowngrade   bool
	components       []string
	noStart          bool
	defaultRuntime   string
	registryMirrors  []config.RegistryMirror
	namespaces       []string
	kubeconfig       string
	runner           Runner
	containerdSocket string
	dockerSocket     string
	progressFn       func(Event)
	warnFn           func(string)
	now              func() time.Time
	self             string
	restrictOOM      bool
	hostOpts         []host.Option
	facts            *host.Facts
	// execPrefix is set when commands run inside another mount namespace
	// (WithExecPrefix): tools are named by their paths there.
	execPrefix bool
	// live is set when root is "/"; tests set it on a directory to
	// exercise the paths of the running system.
	live bool

	svc *services
}

// Option configures an Installer.
type Option func(*Installer) error

// WithRoot installs into dir instead of "/" (tests, golden images, chroots).
func WithRoot(dir string) Option {
	return func(in *Installer) error {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		in.root = abs
		return nil
	}
}

// WithKeys adds trusted public key files, on top of <root>/etc/satchel/keys/*.pub.
func WithKeys(paths ...string) Option {
	return func(in *Installer) error { in.keyFiles = append(in.keyFiles, paths...); return nil }
}

// WithInsecureSkipSignature installs without checking the signature. It is
// reported loudly and recorded in the state.
func WithInsecureSkipSignature(b bool) Option {
	return func(in *Installer) error { in.insecure = b; return nil }
}

// WithAllowDowngrade accepts a bundle whose sequence is lower than the installed one's.
func WithAllowDowngrade(b bool) Option {
	return func(in *Installer) error { in.allowDowngrade = b; return nil }
}

// WithComponents limits the install to the named components.
func WithComponents(names ...string) Option {
	return func(in *Installer) error {
		for _, n := range names {
			for _, p := range strings.Split(n, ",") {
				if p = strings.TrimSpace(p); p != "" {
					in.components = append(in.components, p)
				}
			}
		}
		return nil
	}
}

// WithNoStart enables services without starting them; images are staged
// for import at first start.
func WithNoStart(b bool) Option { return func(in *Installer) error { in.noStart = b; return nil } }

// WithDefaultRuntime makes runc, runsc or kata the default of containerd's CRI and Docker.
func WithDefaultRuntime(r string) Option {
	return func(in *Installer) error {
		switch r {
		case "", "runc", "runsc", "kata":
			in.defaultRuntime = r
			return nil
		}
		return manifest.Hintf("use runc, runsc or kata", "unknown default runtime %q", r)
	}
}

// WithRegistryMirrors adds registry mirrors (config.ParseRegistryMirror
// reads the --registry-mirror form).
func WithRegistryMirrors(m ...config.RegistryMirror) Option {
	return func(in *Installer) error { in.registryMirrors = append(in.registryMirrors, m...); return nil }
}

// WithNamespaces imports images into these containerd namespaces as well as k8s.io.
func WithNamespaces(ns ...string) Option {
	return func(in *Installer) error {
		for _, n := range ns {
			if n == "" || strings.ContainsAny(n, "/ \t") {
				return manifest.Hintf("use a plain name such as default or moby", "bad containerd namespace %q", n)
			}
			if !contains(in.namespaces, n) {
				in.namespaces = append(in.namespaces, n)
			}
		}
		return nil
	}
}

// WithKubeconfig applies the RuntimeClasses with kubectl using this kubeconfig.
func WithKubeconfig(path string) Option {
	return func(in *Installer) error { in.kubeconfig = path; return nil }
}

// WithRunner replaces how external commands are run.
func WithRunner(r Runner) Option { return func(in *Installer) error { in.runner = r; return nil } }

// WithExecPrefix runs every external command behind prefix, e.g.
// "nsenter", "-t", PID, "-m", "--", so doctor can check a tree running in
// another mount namespace; tools are then named by their in-root paths.
func WithExecPrefix(prefix ...string) Option {
	return func(in *Installer) error {
		if len(prefix) == 0 {
			return nil
		}
		in.runner, in.execPrefix = ExecRunner{Prefix: prefix}, true
		return nil
	}
}

// WithContainerdSocket talks to containerd at this socket (a host path).
func WithContainerdSocket(p string) Option {
	return func(in *Installer) error { in.containerdSocket = p; return nil }
}

// WithDockerSocket talks to dockerd at this socket (a host path).
func WithDockerSocket(p string) Option {
	return func(in *Installer) error { in.dockerSocket = p; return nil }
}

// WithProgress receives progress events (phases, steps, bytes).
func WithProgress(fn func(Event)) Option {
	return func(in *Installer) error { in.progressFn = fn; return nil }
}

// WithWarnings receives warnings meant for people (insecure mode, recovery).
func WithWarnings(fn func(string)) Option {
	return func(in *Installer) error { in.warnFn = fn; return nil }
}

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option {
	return func(in *Installer) error { in.now = now; return nil }
}

// WithSelf names the installer binary copied to /usr/local/bin/satchel-install
// (default: the running executable).
func WithSelf(path string) Option { return func(in *Installer) error { in.self = path; return nil } }

// WithRestrictOOMScoreAdj sets containerd CRI's restrict_oom_score_adj,
// for hosts where containerd may not lower OOM scores (inside a container
// without CAP_SYS_RESOURCE). Real hosts leave it off.
func WithRestrictOOMScoreAdj(b bool) Option {
	return func(in *Installer) error { in.restrictOOM = b; return nil }
}

// WithHostOptions passes options to host.Gather (fake /proc, /sys, /dev,
// /run for tests; a kernel release for golden images).
func WithHostOptions(opts ...host.Option) Option {
	return func(in *Installer) error { in.hostOpts = append(in.hostOpts, opts...); return nil }
}

// WithFacts uses these host facts instead of gathering them (tests).
func WithFacts(f *host.Facts) Option { return func(in *Installer) error { in.facts = f; return nil } }

// New returns an Installer for the options.
func New(opts ...Option) (*Installer, error) {
	in := &Installer{
		root:             "/",
		runner:           ExecRunner{},
		containerdSocket: DefaultContainerdSocket,
		dockerSocket:     DefaultDockerSocket,
		now:              time.Now,
	}
	for _, o := range opts {
		if err := o(in); err != nil {
			return nil, err
		}
	}
	if in.self == "" {
		if exe, err := os.Executable(); err == nil {
			in.self = exe
		}
	}
	if fi, err := os.Stat(in.root); err != nil || !fi.IsDir() {
		return nil, manifest.Hintf("create the directory first, or pass --root / for this machine", "root %s is not a directory", in.root)
	}
	in.live = in.root == "/"
	in.svc = &services{in: in}
	return in, nil
}

// Root returns the root directory installs go into.
func (in *Installer) Root() string { return in.root }

// Live reports whether the installer works on the running system (root is "/").
func (in *Installer) Live() bool { return in.live }

// path maps an absolute path inside the root to a host path, refusing
// anything that would leave the root (including through symlinks).
func (in *Installer) path(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("internal: path %q is not absolute", p)
	}
	if in.root == "/" {
		return filepath.Clean(p), nil
	}
	hp, err := verify.SafeJoin(in.root, p)
	if err != nil {
		return "", manifest.VerificationError(err)
	}
	return hp, nil
}

func (in *Installer) warnf(format string, args ...any) {
	if in.warnFn != nil {
		in.warnFn(fmt.Sprintf(format, args...))
	}
}

func joinComma(s []string) string { return strings.Join(s, ", ") }
func joinLines(s []string) string { return strings.Join(s, "\n  ") }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

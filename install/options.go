package install

import (
	"strings"
	"time"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/manifest"
)

// Default sockets, as the rendered configs and units set them up.
const (
	DefaultContainerdSocket = "/run/containerd/containerd.sock"
	DefaultDockerSocket     = "/var/run/docker.sock"
	// DefaultNamespace is where Kubernetes (CRI) looks for images.
	DefaultNamespace = plan.DefaultNamespace
)

// options are what the With… options set.
type options struct {
	root              string
	keyFiles          []string
	insecure          bool
	allowDowngrade    bool
	allowSeriesChange bool
	plan              plan.Options
	runner            runner.Runner
	inNamespace       bool
	containerdSocket  string
	dockerSocket      string
	progress          func(Event)
	warn              func(string)
	now               func() time.Time
	resolver          rootfs.Resolver
	hostOpts          []host.Option
	facts             *host.Facts
	// live makes a directory root act as the running system (tests).
	live bool
}

// Option configures an Installer.
type Option func(*options) error

// WithRoot installs into dir instead of "/" (tests, golden images, chroots).
func WithRoot(dir string) Option { return func(o *options) error { o.root = dir; return nil } }

// WithKeys adds trusted public key files, on top of <root>/etc/satchel/keys/*.pub.
func WithKeys(paths ...string) Option {
	return func(o *options) error { o.keyFiles = append(o.keyFiles, paths...); return nil }
}

// WithInsecureSkipSignature installs without checking the signature. It is
// reported loudly and recorded in the state.
func WithInsecureSkipSignature(b bool) Option {
	return func(o *options) error { o.insecure = b; return nil }
}

// WithAllowDowngrade accepts a bundle whose sequence is lower than one this
// root has had of the same series.
func WithAllowDowngrade(b bool) Option {
	return func(o *options) error { o.allowDowngrade = b; return nil }
}

// WithAllowSeriesChange accepts a bundle of another series (another name)
// than the one installed.
func WithAllowSeriesChange(b bool) Option {
	return func(o *options) error { o.allowSeriesChange = b; return nil }
}

// WithComponents limits the install to the named components (and what they need).
func WithComponents(names ...string) Option {
	return func(o *options) error {
		for _, n := range names {
			for _, p := range strings.Split(n, ",") {
				if p = strings.TrimSpace(p); p != "" && !contains(o.plan.Components, p) {
					o.plan.Components = append(o.plan.Components, p)
				}
			}
		}
		return nil
	}
}

// WithNoStart enables services without starting them; images are staged
// for import at first start.
func WithNoStart(b bool) Option { return func(o *options) error { o.plan.NoStart = b; return nil } }

// WithDefaultRuntime makes runc, runsc or kata the default of containerd's CRI and Docker.
func WithDefaultRuntime(r string) Option {
	return func(o *options) error {
		switch r {
		case "", "runc", "runsc", "kata":
			o.plan.DefaultRuntime = r
			return nil
		}
		return manifest.Hintf("use runc, runsc or kata", "unknown default runtime %q", r)
	}
}

// WithRegistryMirrors adds registry mirrors (config.ParseRegistryMirror
// reads the --registry-mirror form).
func WithRegistryMirrors(m ...config.RegistryMirror) Option {
	return func(o *options) error { o.plan.RegistryMirrors = append(o.plan.RegistryMirrors, m...); return nil }
}

// WithRegistryCA installs pem, the CA that signed the HTTPS registry
// mirrors' certificates, where containerd (named by each mirror's
// hosts.toml) and Docker find it; config.ParseRegistryCA checks it.
func WithRegistryCA(pem []byte) Option {
	return func(o *options) error {
		if err := config.ParseRegistryCA(pem); err != nil {
			return err
		}
		o.plan.RegistryCA = pem
		return nil
	}
}

// WithNamespaces imports images into these containerd namespaces as well as k8s.io.
func WithNamespaces(ns ...string) Option {
	return func(o *options) error {
		for _, n := range ns {
			if n == "" || strings.ContainsAny(n, "/ \t\n") {
				return manifest.Hintf("use a plain name such as default or moby", "bad containerd namespace %q", n)
			}
			if !contains(o.plan.Namespaces, n) {
				o.plan.Namespaces = append(o.plan.Namespaces, n)
			}
		}
		return nil
	}
}

// WithCNISubnet sets the subnet of the default container network apply
// writes when /etc/cni/net.d has none (default config.DefaultCNISubnet).
func WithCNISubnet(subnet string) Option {
	return func(o *options) error {
		if subnet == "" {
			return nil
		}
		if _, err := config.ParseCNISubnet(subnet); err != nil {
			return manifest.HintError(err, "give an IPv4 network the host does not route, e.g. 10.89.0.0/16")
		}
		o.plan.CNISubnet = subnet
		return nil
	}
}

// WithKubeconfig applies the RuntimeClasses with kubectl using this kubeconfig.
func WithKubeconfig(path string) Option {
	return func(o *options) error { o.plan.Kubeconfig = path; return nil }
}

// WithRunner replaces how external commands are run.
func WithRunner(r runner.Runner) Option { return func(o *options) error { o.runner = r; return nil } }

// WithExecPrefix runs every external command behind prefix, e.g.
// "nsenter", "-t", PID, "-m", "--", so doctor can check a tree running in
// another mount namespace; tools are then named by their in-root paths.
func WithExecPrefix(prefix ...string) Option {
	return func(o *options) error {
		if len(prefix) == 0 {
			return nil
		}
		o.runner, o.inNamespace = runner.ExecRunner{Prefix: prefix}, true
		return nil
	}
}

// WithContainerdSocket talks to containerd at this socket (a host path).
func WithContainerdSocket(p string) Option {
	return func(o *options) error { o.containerdSocket = p; return nil }
}

// WithDockerSocket talks to dockerd at this socket (a host path).
func WithDockerSocket(p string) Option {
	return func(o *options) error { o.dockerSocket = p; return nil }
}

// WithProgress receives progress events (phases, steps, bytes).
func WithProgress(fn func(Event)) Option {
	return func(o *options) error { o.progress = fn; return nil }
}

// WithWarnings receives warnings meant for people (insecure mode, recovery).
func WithWarnings(fn func(string)) Option { return func(o *options) error { o.warn = fn; return nil } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}

// WithSelf names the installer binary copied to /usr/local/bin/satchel-install
// (default: the running executable).
func WithSelf(path string) Option { return func(o *options) error { o.plan.Self = path; return nil } }

// WithRestrictOOMScoreAdj sets containerd CRI's restrict_oom_score_adj,
// for hosts where containerd may not lower OOM scores (inside a container
// without CAP_SYS_RESOURCE). Real hosts leave it off.
func WithRestrictOOMScoreAdj(b bool) Option {
	return func(o *options) error { o.plan.RestrictOOMScoreAdj = b; return nil }
}

// WithHostOptions passes options to host.Gather (fake /proc, /sys, /dev,
// /run for tests; a kernel release for golden images).
func WithHostOptions(opts ...host.Option) Option {
	return func(o *options) error { o.hostOpts = append(o.hostOpts, opts...); return nil }
}

// WithFacts uses these host facts instead of gathering them (tests).
func WithFacts(f *host.Facts) Option { return func(o *options) error { o.facts = f; return nil } }

// WithResolver forces how the root's directories are opened (tests of the
// 4.19 path, where openat2 is missing).
func WithResolver(r rootfs.Resolver) Option {
	return func(o *options) error { o.resolver = r; return nil }
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

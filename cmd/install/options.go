package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/install"
	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/manifest"
)

// bundleOptions are the flags of the commands that read a bundle
// (preflight, plan, apply): trust and what to install how.
type bundleOptions struct {
	Keys              []string
	Insecure          bool
	AllowDowngrade    bool
	AllowSeriesChange bool
	Components        []string
	NoStart           bool
	DefaultRuntime    string
	RegistryMirrors   []string
	RegistryCA        string
	Namespaces        []string
	CNISubnet         string
	Kubeconfig        string
	RestrictOOM       bool
	ContainerdSocket  string
	DockerSocket      string
}

func (o *bundleOptions) register(c *cobra.Command) {
	f := c.Flags()
	f.StringArrayVar(&o.Keys, "key", nil, "trusted public key (repeatable; "+string(state.KeyDir)+"/*.pub are trusted too)")
	f.BoolVar(&o.Insecure, "insecure-skip-signature", false, "do NOT check the bundle's signature (loud; recorded in the state)")
	f.BoolVar(&o.AllowDowngrade, "allow-downgrade", false, "accept a bundle with a lower sequence than this root has had of its series")
	f.BoolVar(&o.AllowSeriesChange, "allow-series-change", false, "accept a bundle of another series (name) than the installed one")
	f.StringSliceVar(&o.Components, "components", nil, "install only these components, e.g. containerd,runc,gvisor")
	f.BoolVar(&o.NoStart, "no-start", false, "enable services but do not start them; images are imported at first start")
	f.StringVar(&o.DefaultRuntime, "default-runtime", "", "default runtime of containerd's CRI and Docker: runc, runsc or kata")
	f.StringArrayVar(&o.RegistryMirrors, "registry-mirror", nil, "pull REGISTRY from MIRROR, e.g. docker.io=harbor.internal/dockerhub (repeatable)")
	f.StringVar(&o.RegistryCA, "registry-ca", "", "PEM CA of the HTTPS registry mirrors' certificates, installed for containerd and Docker")
	f.StringArrayVar(&o.Namespaces, "namespace", nil, "also import images into this containerd namespace (k8s.io and default always; repeatable)")
	f.StringVar(&o.CNISubnet, "cni-subnet", "", "subnet of the default container network written when /etc/cni/net.d has none (default "+config.DefaultCNISubnet+")")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "apply the RuntimeClasses with kubectl and this kubeconfig")
	f.BoolVar(&o.RestrictOOM, "restrict-oom-score-adj", false, "set CRI's restrict_oom_score_adj (for containerd inside a container without CAP_SYS_RESOURCE)")
	f.StringVar(&o.ContainerdSocket, "containerd-socket", install.DefaultContainerdSocket, "containerd's socket, for image imports")
	f.StringVar(&o.DockerSocket, "docker-socket", install.DefaultDockerSocket, "Docker's socket, for docker load")
}

func (o *bundleOptions) options() ([]install.Option, error) {
	opts := []install.Option{
		install.WithKeys(o.Keys...),
		install.WithInsecureSkipSignature(o.Insecure),
		install.WithAllowDowngrade(o.AllowDowngrade),
		install.WithAllowSeriesChange(o.AllowSeriesChange),
		install.WithComponents(o.Components...),
		install.WithNoStart(o.NoStart),
		install.WithNamespaces(o.Namespaces...),
		install.WithCNISubnet(o.CNISubnet),
		install.WithKubeconfig(o.Kubeconfig),
		install.WithRestrictOOMScoreAdj(o.RestrictOOM),
		install.WithContainerdSocket(o.ContainerdSocket),
		install.WithDockerSocket(o.DockerSocket),
	}
	if o.DefaultRuntime != "" {
		opts = append(opts, install.WithDefaultRuntime(o.DefaultRuntime))
	}
	for _, m := range o.RegistryMirrors {
		rm, err := config.ParseRegistryMirror(m)
		if err != nil {
			return nil, cli.UsageError(err)
		}
		opts = append(opts, install.WithRegistryMirrors(rm))
	}
	if o.RegistryCA != "" {
		if len(o.RegistryMirrors) == 0 {
			return nil, cli.UsageError(manifest.Hintf("give the mirrors it is for with --registry-mirror", "--registry-ca without --registry-mirror"))
		}
		pem, err := os.ReadFile(o.RegistryCA)
		if err != nil {
			return nil, cli.UsageError(fmt.Errorf("--registry-ca: %w", err))
		}
		if err := config.ParseRegistryCA(pem); err != nil {
			return nil, cli.UsageError(fmt.Errorf("--registry-ca %s: %w", o.RegistryCA, err))
		}
		opts = append(opts, install.WithRegistryCA(pem))
	}
	return opts, nil
}

// session holds what every command needs: the printer and the installer.
type session struct {
	g      *globalOptions
	out    cli.Printer
	stderr io.Writer
	prog   *progress
}

func newSession(c *cobra.Command, g *globalOptions) *session {
	stderr := c.ErrOrStderr()
	return &session{g: g, out: cli.NewPrinter(c.OutOrStdout(), stderr, g.JSON), stderr: stderr, prog: newProgress(stderr)}
}

// installer builds the engine for --root with the given options, wiring
// progress to the terminal and warnings to stderr.
func (s *session) installer(extra ...install.Option) (*install.Installer, error) {
	opts := append([]install.Option{
		install.WithRoot(s.g.Root),
		install.WithProgress(s.prog.event),
		install.WithWarnings(func(msg string) {
			s.prog.clear()
			fmt.Fprintf(s.stderr, "warning: %s\n", msg)
		}),
	}, extra...)
	in, err := install.New(opts...)
	if err != nil {
		return nil, cli.UsageError(err)
	}
	return in, nil
}

// fail prints err as JSON on stdout in --json mode (so Ansible reads a
// result either way) and returns it for the exit code and stderr.
func (s *session) fail(err error) error {
	if err == nil {
		return nil
	}
	s.prog.clear()
	if s.g.JSON {
		s.out.Print(cli.NewErrorJSON(err), func(io.Writer) {})
	}
	return err
}

// exitOnly carries an exit code whose explanation was already printed as
// part of a report.
type exitOnly struct{ msg string }

func (e exitOnly) Error() string { return e.msg }

func withCode(msg string, code int) error { return manifest.WithExitCode(exitOnly{msg}, code) }

package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/install"
	"github.com/satchel-dev/satchel/manifest"
)

// DoctorOptions configure `satchel-install doctor`.
type DoctorOptions struct {
	ContainerdSocket string
	DockerSocket     string
	// ExecPrefix runs every command behind it, e.g. "nsenter -t PID -m --".
	ExecPrefix string
}

func newDoctorCommand(g *globalOptions) *cobra.Command {
	var o DoctorOptions
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check the installed stack end to end, starting a container under each runtime",
		Long: `doctor checks what apply installed, on the running system: services active
(when systemd runs), containerd answering (ctr version), the runtimes
registered in containerd's CRI (crictl info) and in Docker (docker info), and
for each installed runtime a container from the bundled image running
"uname -r": the host's kernel under runc, gVisor's under runsc, the guest
kernel under kata. kata on a host without /dev/kvm is reported with the reason
and the remedy. With the cni component: the network config the CRI uses, and
under runc and runsc the bundled image started with nerdctl, its port published
on 127.0.0.1 and a page fetched through it by doctor itself (plain TCP, HTTP/1.0);
a failure names the layer (plugin missing, no config, iptables, forwarding). Registry mirrors apply wrote (hosts.toml) must answer: a TCP
connect, and for a plain-HTTP mirror a GET of /v2/ (an HTTPS mirror's TLS is
not checked: satchel-install has no TLS client); doctor connects nowhere else.
Exit code 1 when a check fails.

It needs a running containerd. --containerd-socket and --docker-socket say
where they listen; --exec-prefix runs every command behind a prefix, so a tree
running in another mount namespace can be checked from outside.`,
		Example: `  satchel-install doctor
  satchel-install doctor --json | jq '.checks[] | select(.result=="fail")'
  satchel-install doctor --containerd-socket /run/test/containerd.sock --exec-prefix "nsenter -t 4242 -m --"`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error { return runDoctor(c, g, o) },
	}
	c.Flags().StringVar(&o.ContainerdSocket, "containerd-socket", install.DefaultContainerdSocket, "containerd's socket")
	c.Flags().StringVar(&o.DockerSocket, "docker-socket", install.DefaultDockerSocket, "Docker's socket")
	c.Flags().StringVar(&o.ExecPrefix, "exec-prefix", "", "run every command behind this prefix (split at spaces)")
	return c
}

func runDoctor(c *cobra.Command, g *globalOptions, o DoctorOptions) error {
	s := newSession(c, g)
	in, err := s.installer(install.WithContainerdSocket(o.ContainerdSocket), install.WithDockerSocket(o.DockerSocket),
		install.WithExecPrefix(strings.Fields(o.ExecPrefix)...))
	if err != nil {
		return s.fail(err)
	}
	rep, err := in.Doctor(c.Context())
	s.prog.clear()
	if err != nil {
		return s.fail(err)
	}
	if err := s.out.Print(rep, func(w io.Writer) { printDoctor(w, rep) }); err != nil {
		return err
	}
	if !rep.OK {
		n := 0
		for _, ch := range rep.Checks {
			if ch.Result == install.CheckFail {
				n++
			}
		}
		return withCode(fmt.Sprintf("doctor: %d check(s) failed", n), manifest.ExitFailure)
	}
	return nil
}

func printDoctor(w io.Writer, r *install.DoctorReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, strings.ToUpper(c.Result), c.Detail)
	}
	tw.Flush()
	for _, c := range r.Checks {
		if c.Remedy != "" && c.Result != install.CheckOK {
			fmt.Fprintf(w, "%s: %s\n", c.Name, c.Remedy)
		}
	}
}

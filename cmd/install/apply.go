package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/install"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
)

// ApplyOptions configure `satchel-install apply`.
type ApplyOptions struct {
	bundleOptions
	// Check plans only and exits 5 when something would change.
	Check bool
	// DryRun prints the plan and writes nothing.
	DryRun bool
}

func newApplyCommand(g *globalOptions) *cobra.Command {
	var o ApplyOptions
	c := &cobra.Command{
		Use:   "apply [FILE] --key PUB",
		Short: "Verify a bundle and install it",
		Long: `apply verifies the bundle (signature first, then every blob's digest, before
anything is written), runs preflight, computes the plan and carries it out:
binaries to /usr/local/bin and /opt/kata, systemd units, configuration merged
into what is there (containerd, Docker, crictl), bash completions, images
imported into containerd (namespace k8s.io and --namespace) and pinned, and
into Docker; services enabled and started. On the running system with systemd
as init services are started (not with --no-start); into another --root they
are only enabled, and images are staged for import at first start.

Every write is atomic; replaced files are backed up; a journal makes an
interrupted apply (kill -9, power loss) roll back on the next run, and a
failing step rolls back the whole run. Running apply again with the same
bundle changes nothing; --check exits 5 when it would change something.`,
		Example: `  satchel-install apply kylin-runtimes-2025.04.0.satchel --key satchel.pub
  satchel-install apply kylin.satchel --key satchel.pub --components containerd,runc,gvisor --default-runtime runsc
  satchel-install apply kylin.satchel --key satchel.pub --root /srv/golden --no-start
  satchel-install apply kylin.satchel --key satchel.pub --check   # exit 5: something to do
  satchel-install apply kylin.satchel --key satchel.pub --json    # for Ansible`,
		Args: bundleArgs,
		RunE: withBundle(func(c *cobra.Command, file string) error { return runApply(c, g, o, file) }),
	}
	o.register(c)
	c.Flags().BoolVar(&o.Check, "check", false, "change nothing; exit 5 if apply would change something, 0 if not")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the plan and change nothing")
	return c
}

func runApply(c *cobra.Command, g *globalOptions, o ApplyOptions, file string) error {
	s := newSession(c, g)
	if o.Check && o.DryRun {
		return s.fail(cli.UsageError(fmt.Errorf("--check and --dry-run exclude each other")))
	}
	if o.Check || o.DryRun {
		p, err := computePlan(c, s, o.bundleOptions, file)
		if err != nil {
			return s.fail(err)
		}
		if err := s.out.Print(p, func(w io.Writer) {
			if o.Check {
				printCheck(w, p)
			} else {
				printPlan(w, p, false)
			}
		}); err != nil {
			return err
		}
		switch {
		case p.Preflight != nil && p.Preflight.Failed:
			return withCode("preflight failed", manifest.ExitPreflight)
		case o.Check && p.Changed:
			return withCode(fmt.Sprintf("%d changes needed", len(p.Changes())), manifest.ExitWouldChange)
		}
		return nil
	}
	opts, err := o.options()
	if err != nil {
		return s.fail(err)
	}
	in, err := s.installer(opts...)
	if err != nil {
		return s.fail(err)
	}
	src, err := in.Open(c.Context(), file)
	if err != nil {
		return s.fail(err)
	}
	defer src.Close()
	rep, err := in.Apply(c.Context(), src)
	s.prog.clear()
	if err != nil {
		if rep != nil && rep.Plan != nil && rep.Plan.Preflight != nil && rep.Plan.Preflight.Failed && !g.JSON {
			printFindings(c.ErrOrStderr(), rep.Plan.Preflight.Findings)
		}
		return s.fail(err)
	}
	return s.out.Print(rep, func(w io.Writer) { printApply(w, rep) })
}

func printCheck(w io.Writer, p *plan.Plan) {
	if !p.Changed {
		fmt.Fprintf(w, "%s %s is installed and up to date: nothing to do\n", human.Safe(p.Bundle.Name), human.Safe(p.Bundle.Version))
		return
	}
	fmt.Fprintf(w, "%d changes needed:\n", len(p.Changes()))
	for _, a := range p.Changes() {
		fmt.Fprintf(w, "  %s\n", human.Safe(a.Describe()))
	}
}

func printApply(w io.Writer, r *install.Report) {
	p := r.Plan
	if r.Recovery != nil {
		fmt.Fprintf(w, "An interrupted %s (run %s) was %s first.\n", r.Recovery.Kind, r.Recovery.RunID, r.Recovery.Outcome)
	}
	if !r.Changed {
		fmt.Fprintf(w, "%s %s (sequence %d) is installed and up to date: nothing to do.\n", human.Safe(p.Bundle.Name), human.Safe(p.Bundle.Version), p.Bundle.Sequence)
		return
	}
	printBundleLine(w, "Installed", p)
	for _, a := range p.Actions {
		if a.Changes() || a.Change == plan.ChangeSkip {
			fmt.Fprintf(w, "  %s\n", human.Safe(describeShort(&a)))
		}
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", human.Safe(warn))
	}
	fmt.Fprintf(w, "Done: %d steps in %.1f s (%s).", r.Steps, r.Seconds, summary(p.Summary))
	if p.ImageMode == plan.ImageStage {
		fmt.Fprintf(w, " Images are staged in %s and imported by satchel-images.service at first start.", state.ImageDir)
	}
	fmt.Fprintln(w)
	if p.Online {
		fmt.Fprintln(w, "Check the result with: satchel-install doctor")
	}
}

func describeShort(a *plan.Action) string {
	s := a.Describe()
	if a.Note != "" && a.Change == plan.ChangeSkip {
		s += " (" + a.Note + ")"
	}
	return s
}

package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/install"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
)

// PreflightOptions configure `satchel-install preflight`.
type PreflightOptions struct {
	bundleOptions
}

func newPreflightCommand(g *globalOptions) *cobra.Command {
	var o PreflightOptions
	c := &cobra.Command{
		Use:   "preflight [FILE]",
		Short: "Check whether this host can take a bundle, and explain every problem",
		Long: `preflight compares the host (or --root) with the bundle: operating system,
architecture, kernel, overlay, cgroups, systemd, glibc against what each
component needs, /dev/kvm and VT-x/AMD-V for kata, conflicting packaged
docker/containerd, free disk space, and the bundle's compatibility notes.
Every finding has an id, a severity and a remedy. It writes nothing.

Without a trusted key (--key or ` + string(state.KeyDir) + `) the bundle's index is read
without checking its signature, and the report says so; plan and apply always
check it. Exit code 4 when an error concerns the whole bundle or a selected
component; leave failing components out with --components.`,
		Example: `  satchel-install preflight kylin-runtimes-2025.04.0.satchel
  satchel-install preflight kylin.satchel --key satchel.pub --components containerd,runc,gvisor
  satchel-install preflight kylin.satchel --json | jq '.findings[] | select(.severity=="error")'`,
		Args: bundleArgs,
		RunE: withBundle(func(c *cobra.Command, file string) error { return runPreflight(c, g, o, file) }),
	}
	o.register(c)
	return c
}

func runPreflight(c *cobra.Command, g *globalOptions, o PreflightOptions, file string) error {
	s := newSession(c, g)
	opts, err := o.options()
	if err != nil {
		return s.fail(err)
	}
	in, err := s.installer(opts...)
	if err != nil {
		return s.fail(err)
	}
	ctx := c.Context()
	var src *install.Source
	if len(o.Keys) > 0 || o.Insecure {
		src, err = in.Open(ctx, file)
	} else {
		src, err = in.OpenUnverified(ctx, file)
	}
	if err != nil {
		return s.fail(err)
	}
	defer src.Close()
	rep, err := in.Preflight(ctx, src)
	if err != nil {
		return s.fail(err)
	}
	s.prog.clear()
	if err := s.out.Print(rep, func(w io.Writer) { printPreflight(w, rep) }); err != nil {
		return err
	}
	if rep.Failed {
		return withCode("preflight failed", manifest.ExitPreflight)
	}
	return nil
}

func printPreflight(w io.Writer, r *install.PreflightReport) {
	f := r.Facts
	fmt.Fprintf(w, "bundle   %s %s (sequence %d)", human.Safe(r.Bundle.Name), human.Safe(r.Bundle.Version), r.Bundle.Sequence)
	switch {
	case r.Bundle.InsecureSkipSignature:
		fmt.Fprintf(w, ", signature NOT checked (--insecure-skip-signature)\n")
	case r.Verified:
		fmt.Fprintf(w, ", signed by %s\n", human.Safe(r.Bundle.KeyID))
	default:
		fmt.Fprintf(w, ", signature not checked (no --key): apply will check it\n")
	}
	fmt.Fprintf(w, "target   %s: %s, %s, kernel %s, glibc %s, cgroup %s, systemd as init: %v\n",
		human.Safe(f.Root), human.Safe(f.OS.String()), f.Platform(), human.Safe(f.Kernel), human.Safe(f.Glibc), f.Cgroup, f.SystemdInit)
	printFindings(w, r.Findings)
	if r.Failed {
		fmt.Fprintf(w, "\nPreflight FAILED.")
		if len(r.FailingComponents) > 0 {
			fmt.Fprintf(w, " Failing components: [%s] (leave them out with --components).", human.SafeList(r.FailingComponents, " "))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "\nPreflight passed.")
	}
}

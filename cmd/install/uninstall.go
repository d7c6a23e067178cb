package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/install"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/internal/human"
)

// UninstallOptions configure `satchel-install uninstall`.
type UninstallOptions struct{}

func newUninstallCommand(g *globalOptions) *cobra.Command {
	var o UninstallOptions
	return &cobra.Command{
		Use:   "uninstall",
		Short: "Remove what satchel installed and restore every file it replaced",
		Long: `uninstall disables (and on the running system stops) the units satchel
enabled, removes every file it wrote and puts back, byte for byte, every file
it replaced (an earlier daemon.json, config.toml, runc, ...). Files changed
since the install are left alone and listed. Images stay in containerd and
Docker. Like apply it is journaled: an interrupted uninstall is rolled back by
the next run.`,
		Example: "  satchel-install uninstall\n  satchel-install uninstall --root /srv/golden --json",
		Args:    cobra.NoArgs,
		RunE:    func(c *cobra.Command, args []string) error { return runUninstall(c, g, o) },
	}
}

func runUninstall(c *cobra.Command, g *globalOptions, o UninstallOptions) error {
	s := newSession(c, g)
	in, err := s.installer()
	if err != nil {
		return s.fail(err)
	}
	rep, err := in.Uninstall(c.Context())
	s.prog.clear()
	if err != nil {
		return s.fail(err)
	}
	return s.out.Print(rep, func(w io.Writer) { printUninstall(w, rep, g.Root) })
}

func printUninstall(w io.Writer, r *install.UninstallReport, root string) {
	if r.Recovery != nil {
		fmt.Fprintf(w, "An interrupted %s (run %s) was %s first.\n", r.Recovery.Kind, r.Recovery.RunID, r.Recovery.Outcome)
	}
	if r.NothingInstalled {
		fmt.Fprintf(w, "Nothing installed by satchel in %s.\n", root)
		return
	}
	fmt.Fprintf(w, "Uninstalled %s %s (sequence %d):\n", human.Safe(r.Bundle.Name), human.Safe(r.Bundle.Version), r.Bundle.Sequence)
	for _, a := range r.Actions {
		if a.Changes() {
			fmt.Fprintf(w, "  %-8s %s\n", a.Change, human.Safe(describeTarget(&a)))
		}
	}
	for _, p := range r.Left {
		fmt.Fprintf(w, "  left     %s (changed since it was installed)\n", human.Safe(p))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", human.Safe(n))
	}
}

func describeTarget(a *plan.Action) string {
	if a.Kind == plan.KindService {
		return a.Unit
	}
	return string(a.Path)
}

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
)

// PlanOptions configure `satchel-install plan`.
type PlanOptions struct {
	bundleOptions
	// All lists unchanged entries too.
	All bool
}

func newPlanCommand(g *globalOptions) *cobra.Command {
	var o PlanOptions
	c := &cobra.Command{
		Use:   "plan [FILE] --key PUB",
		Short: "Show every change apply would make, without making any",
		Long: `plan verifies the bundle, runs preflight and lists what apply would change:
files (new, replaced or unchanged, by content digest), symlinks, configuration
files with unified diffs of old and new text, units, services to enable, start
or restart, images to import (or stage), RuntimeClasses, files of an earlier
install to remove or restore, and the state. Nothing is written.

apply computes the same plan and carries out exactly it. Exit code 4 when
preflight fails (the plan is still printed).`,
		Example: `  satchel-install plan kylin-runtimes-2025.04.0.satchel --key satchel.pub
  satchel-install plan kylin.satchel --key satchel.pub --root /srv/golden --all
  satchel-install plan kylin.satchel --key satchel.pub --json | jq '.actions[] | select(.change != "unchanged")'`,
		Args: bundleArgs,
		RunE: withBundle(func(c *cobra.Command, file string) error { return runPlan(c, g, o, file) }),
	}
	o.register(c)
	c.Flags().BoolVar(&o.All, "all", false, "list unchanged files too")
	return c
}

func runPlan(c *cobra.Command, g *globalOptions, o PlanOptions, file string) error {
	s := newSession(c, g)
	p, err := computePlan(c, s, o.bundleOptions, file)
	if err != nil {
		return s.fail(err)
	}
	if err := s.out.Print(p, func(w io.Writer) { printPlan(w, p, o.All) }); err != nil {
		return err
	}
	if p.Preflight != nil && p.Preflight.Failed {
		return withCode("preflight failed", manifest.ExitPreflight)
	}
	return nil
}

// computePlan opens and verifies the bundle and plans the install.
func computePlan(c *cobra.Command, s *session, o bundleOptions, file string) (*plan.Plan, error) {
	opts, err := o.options()
	if err != nil {
		return nil, err
	}
	in, err := s.installer(opts...)
	if err != nil {
		return nil, err
	}
	src, err := in.Open(c.Context(), file)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	p, err := in.Plan(c.Context(), src)
	s.prog.clear()
	return p, err
}

func printBundleLine(w io.Writer, verb string, p *plan.Plan) {
	b := p.Bundle
	fmt.Fprintf(w, "%s %s %s (sequence %d) for %s into %s\n", verb, human.Safe(b.Name), human.Safe(b.Version), b.Sequence, human.Safe(b.Platform), human.Safe(p.Root))
	if b.InsecureSkipSignature {
		fmt.Fprintf(w, "  signature NOT checked (--insecure-skip-signature)\n")
	} else {
		fmt.Fprintf(w, "  signed by %s (%s)\n", human.Safe(b.KeyID), human.Safe(b.KeySource))
	}
	fmt.Fprintf(w, "  components: %s\n", human.SafeList(b.Components, ", "))
}

// printTransition names the installed bundle a plan goes from and the one
// it goes to, and the component versions that change.
func printTransition(w io.Writer, t *plan.Transition) {
	q := human.Safe
	if t == nil {
		fmt.Fprintf(w, "  from: nothing installed by satchel\n")
		return
	}
	fmt.Fprintf(w, "  from: %s %s (sequence %d) -> to: %s %s (sequence %d)", q(t.From.Name), q(t.From.Version), t.From.Sequence, q(t.To.Name), q(t.To.Version), t.To.Sequence)
	if t.Same {
		fmt.Fprintf(w, ", the bundle installed")
	}
	fmt.Fprintln(w)
	for _, c := range t.Components {
		switch {
		case c.From == "":
			fmt.Fprintf(w, "    + %s %s\n", q(c.Name), q(c.To))
		case c.To == "":
			fmt.Fprintf(w, "    - %s %s\n", q(c.Name), q(c.From))
		default:
			fmt.Fprintf(w, "    ~ %s %s -> %s\n", q(c.Name), q(c.From), q(c.To))
		}
	}
}

func printFindings(w io.Writer, findings []host.Finding) {
	shown := 0
	for _, f := range findings {
		if f.Severity == host.SeverityInfo {
			continue
		}
		if shown == 0 {
			fmt.Fprintln(w, "\nPreflight:")
		}
		shown++
		// A finding's text may quote a bundle note: each line is made safe.
		lines := strings.Split(f.String(), "\n")
		for i := range lines {
			lines[i] = human.Safe(lines[i])
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(lines, "\n  "))
	}
}

// printPlan prints the plan: changes first (configs with their diffs),
// then a summary.
func printPlan(w io.Writer, p *plan.Plan, all bool) {
	printBundleLine(w, "Plan:", p)
	printTransition(w, p.Transition)
	if p.Preflight != nil {
		printFindings(w, p.Preflight.Findings)
	}
	if p.Interrupted != "" {
		fmt.Fprintf(w, "\nAn interrupted run (%s) is rolled back first.\n", human.Safe(p.Interrupted))
	}
	changes := p.Changes()
	fmt.Fprintf(w, "\nChanges (%d):\n", len(changes))
	for _, a := range p.Actions {
		if !a.Changes() && !(all || a.Change == plan.ChangeSkip) {
			continue
		}
		printAction(w, &a)
	}
	if len(changes) == 0 {
		fmt.Fprintln(w, "  none: the bundle is installed and up to date")
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", human.Safe(warn))
	}
	fmt.Fprintf(w, "\nSummary: %s\n", summary(p.Summary))
}

func printAction(w io.Writer, a *plan.Action) {
	what := string(a.Path)
	if a.Via != "" {
		// Where the bundle named it, and where that leads on this host.
		what = string(a.Via) + " => " + what
	}
	switch {
	case a.Kind == plan.KindService:
		what = a.Unit
		if a.Change == plan.ChangeReload {
			what = "systemctl daemon-reload"
		}
	case a.Kind == plan.KindImage && a.Path == "":
		what = a.Ref
		if len(a.Namespaces) > 0 {
			what += " -> " + strings.Join(a.Namespaces, ", ")
		}
	case a.Kind == plan.KindImage:
		what = a.Ref + " -> " + string(a.Path)
	case a.Kind == plan.KindSymlink:
		what += " -> " + a.Target
	}
	var extra []string
	if a.Component != "" {
		extra = append(extra, a.Component)
	}
	if a.Size > 0 && a.Kind != plan.KindConfig && a.Kind != plan.KindUnit {
		extra = append(extra, human.Bytes(a.Size))
	}
	if a.Note != "" {
		extra = append(extra, a.Note)
	}
	line := fmt.Sprintf("  %-13s %-12s %s", a.Change, a.Kind, human.Safe(what))
	if len(extra) > 0 {
		line += "  (" + human.SafeList(extra, "; ") + ")"
	}
	fmt.Fprintln(w, line)
	if a.Diff != "" {
		for _, l := range strings.Split(strings.TrimRight(a.Diff, "\n"), "\n") {
			fmt.Fprintf(w, "      %s\n", human.Safe(l))
		}
	}
}

func summary(m map[plan.Change]int) string {
	order := []plan.Change{plan.ChangeNew, plan.ChangeReplace, plan.ChangeUnchanged, plan.ChangeRemove, plan.ChangeRestore,
		plan.ChangeRevert, plan.ChangeStage, plan.ChangeImport, plan.ChangeDockerLoad, plan.ChangeReload,
		plan.ChangeEnable, plan.ChangeStart, plan.ChangeRestart, plan.ChangeDisable, plan.ChangeKubectl, plan.ChangeSkip}
	var parts []string
	for _, k := range order {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

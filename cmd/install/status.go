package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/install"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/internal/human"
)

// StatusOptions configure `satchel-install status`.
type StatusOptions struct{}

func newStatusCommand(g *globalOptions) *cobra.Command {
	var o StatusOptions
	return &cobra.Command{
		Use:   "status",
		Short: "Show what is installed, from which bundle, trusted by which key",
		Long: `status reads ` + string(state.Path) + ` and reports the installed bundle (name,
version, sequence, the key that verified it, or that its signature was
skipped), when it was installed, its components, units and images, where its
SBOM and provenance are kept (under /var/lib/satchel), and checks
every recorded file: missing or modified files are listed. An interrupted run
is reported too (the next apply or uninstall repairs it).`,
		Example: "  satchel-install status\n  satchel-install status --root /srv/golden --json",
		Args:    cobra.NoArgs,
		RunE:    func(c *cobra.Command, args []string) error { return runStatus(c, g, o) },
	}
}

func runStatus(c *cobra.Command, g *globalOptions, o StatusOptions) error {
	s := newSession(c, g)
	in, err := s.installer()
	if err != nil {
		return s.fail(err)
	}
	st, err := in.Status(c.Context())
	if err != nil {
		return s.fail(err)
	}
	return s.out.Print(st, func(w io.Writer) { printStatus(w, st) })
}

func printStatus(w io.Writer, st *install.Status) {
	if st.Interrupted != "" {
		fmt.Fprintf(w, "An interrupted run (%s) left a journal: the next apply or uninstall rolls it back.\n", human.Safe(st.Interrupted))
	}
	if !st.Installed {
		fmt.Fprintf(w, "Nothing installed by satchel in %s.\n", human.Safe(st.Root))
		return
	}
	b := st.Bundle
	q := human.Safe
	fmt.Fprintf(w, "bundle      %s %s (sequence %d), created %s\n", q(b.Name), q(b.Version), b.Sequence, q(b.Created))
	if b.InsecureSkipSignature {
		fmt.Fprintf(w, "signature   NOT checked: installed with --insecure-skip-signature\n")
	} else {
		fmt.Fprintf(w, "key         %s (%s)\n", q(b.KeyID), q(b.KeySource))
	}
	fmt.Fprintf(w, "installed   %s into %s, %s\n", st.When.Format("2006-01-02 15:04:05 UTC"), q(st.Root), q(b.Platform))
	var comps []string
	for _, c := range b.Components {
		comps = append(comps, q(c)+" "+q(b.ComponentVersions[c]))
	}
	fmt.Fprintf(w, "components  %s\n", strings.Join(comps, ", "))
	fmt.Fprintf(w, "units       %s (enabled: %s)\n", human.SafeList(st.Units, ", "), human.SafeList(st.Enabled, ", "))
	for _, im := range st.Images {
		where := human.SafeList(im.Namespaces, ", ")
		if im.Staged {
			where = "staged for " + where
		}
		if im.Docker {
			where += ", docker"
		}
		fmt.Fprintf(w, "image       %s (%s)\n", q(im.Ref), where)
	}
	fmt.Fprintf(w, "files       %d", st.Files)
	if len(st.Missing) == 0 && len(st.Modified) == 0 {
		fmt.Fprintf(w, ", all as installed\n")
	} else {
		fmt.Fprintln(w)
	}
	for _, p := range st.Missing {
		fmt.Fprintf(w, "  missing   %s\n", q(p))
	}
	for _, p := range st.Modified {
		fmt.Fprintf(w, "  modified  %s\n", q(p))
	}
	// Where the reviewer's documents are: the SBOM, and the provenance that
	// cosign verify-blob-attestation checks against the bundle's satchel.json.
	if st.SBOM != "" {
		fmt.Fprintf(w, "sbom        %s (SPDX 2.3 JSON)\n", q(inRoot(st.Root, st.SBOM)))
	}
	if st.Provenance != "" {
		fmt.Fprintf(w, "provenance  %s (in-toto SLSA v1, DSSE; subject satchel.json %s)\n", q(inRoot(st.Root, st.Provenance)), q(string(b.IndexDigest)))
	}
	for _, h := range st.History {
		fmt.Fprintf(w, "earlier     %s %s (sequence %d), %s\n", q(h.Name), q(h.Version), h.Sequence, h.When.Format("2006-01-02"))
	}
}

// inRoot names a path inside the root as the host sees it now.
func inRoot(root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	return filepath.Join(root, p)
}

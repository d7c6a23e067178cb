package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/audit"
	"github.com/satchel-dev/satchel/diff"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/sbom"
)

// DiffOptions configure `satchel-bundle diff`.
type DiffOptions struct {
	Keys []string
	DB   string
}

func newDiffCommand(g *globalOptions) *cobra.Command {
	var o DiffOptions
	c := &cobra.Command{
		Use:   "diff OLD NEW --key PUB [--db OSV-DIR] [--json]",
		Short: "Show what changed between two bundles: components, artifacts, digests, images, notes, rendered configs",
		Long: `diff compares two bundle files offline, after verifying both as
` + "`satchel-bundle verify`" + ` does: bundle name, version, sequence and platforms,
components added, removed or at another version, each artifact's upstream URL
and digest and the files it installs, images with their digests and
platforms, compatibility notes that appear or disappear, and the
configuration files and systemd units the installer would write differently
(rendered by the installer's own code for a fresh host with default options,
per platform, as a unified diff). With --db, also the known vulnerabilities
(as audit finds them in an OSV database) that appear or disappear. Use it against
the last approved bundle; --json gives the same for a change ticket.`,
		Example: "  satchel-bundle diff approved.satchel kylin-2025.05.0.satchel --key satchel.pub\n  satchel-bundle diff old.satchel new.satchel --key satchel.pub --json > change.json",
		Args:    cobra.ExactArgs(2),
		RunE:    func(c *cobra.Command, args []string) error { return runDiff(c, g, o, args[0], args[1]) },
	}
	c.Flags().StringArrayVar(&o.Keys, "key", nil, "trusted public key (repeatable; required)")
	c.Flags().StringVar(&o.DB, "db", "", "OSV database directory: also show the known vulnerabilities that appear or disappear (as audit finds them)")
	return c
}

func runDiff(c *cobra.Command, g *globalOptions, o DiffOptions, oldFile, newFile string) error {
	if len(o.Keys) == 0 {
		return cli.UsageError(manifest.Hintf("pass --key satchel.pub (the public key of whoever signed the bundles)", "no trusted key given"))
	}
	var ixs [2]*manifest.Index
	var bs [2]*pack.Bundle
	for i, f := range []string{oldFile, newFile} {
		b, ix, _, err := reviewedBundle(f, o.Keys, true)
		if err != nil {
			return err
		}
		defer b.Close()
		ixs[i], bs[i] = ix, b
	}
	r, err := diff.Bundles(ixs[0], bs[0], ixs[1], bs[1])
	if err != nil {
		return err
	}
	if o.DB != "" {
		db, err := audit.LoadDB(o.DB)
		if err != nil {
			return err
		}
		var found [2][]audit.Finding
		for i := range bs {
			raw, err := sbom.ForBundle(ixs[i], bs[i])
			if err != nil {
				return err
			}
			doc, err := sbom.Decode(raw)
			if err != nil {
				return err
			}
			found[i] = db.Audit(audit.PackagesFromSBOM(doc)).Findings
		}
		r.AddFindings(found[0], found[1])
	}
	return cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON).Print(r, func(w io.Writer) { r.WriteText(w) })
}

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/audit"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/sbom"
)

// AuditOptions configure `satchel-bundle audit`.
type AuditOptions struct {
	Keys   []string
	DB     string
	FailOn string
}

func newAuditCommand(g *globalOptions) *cobra.Command {
	var o AuditOptions
	c := &cobra.Command{
		Use:   "audit FILE --db DIR [--fail-on SEVERITY] [--key PUB] [--json]",
		Short: "Report known vulnerabilities of a bundle's components, Go modules and images, offline",
		Long: `audit builds the bundle's SBOM and matches it against an OSV database you
bring: a directory of OSV JSON records or of OSV's per-ecosystem exports
(<ECOSYSTEM>/all.zip, e.g. Go/all.zip), fetched on a connected host and carried
like the bundle. Checked: each component pin (runc 1.2.6 is Go module
github.com/opencontainers/runc v1.2.6), every Go module compiled into each Go
binary, each binary's Go standard library, and the Debian packages of images.
FILE may also be an SPDX JSON document (an SBOM written by inspect --sbom).

Each finding shows its id and aliases, the package and version, the versions
that fix it and its severity (GitHub's rating or a CVSS v3 score; "unknown"
when the record has none). With --fail-on low|medium|high|critical the
command exits 6 when a finding is at or above that severity (unknown counts
only for --fail-on any).`,
		Example: "  satchel-bundle audit kylin.satchel --db ./osv --fail-on high\n  satchel-bundle audit kylin.satchel --db ./osv --json > findings.json",
		Args:    cobra.ExactArgs(1),
		RunE:    func(c *cobra.Command, args []string) error { return runAudit(c, g, o, args[0]) },
	}
	c.Flags().StringVar(&o.DB, "db", "", "OSV database directory (required)")
	c.Flags().StringVar(&o.FailOn, "fail-on", "", "exit 6 when a finding is at least this severe: low, medium, high, critical or any")
	c.Flags().StringArrayVar(&o.Keys, "key", nil, "check the bundle's signature with this public key (repeatable)")
	return c
}

type auditResult struct {
	File      string `json:"file"`
	Signature string `json:"signature"`
	*audit.Report
}

func runAudit(c *cobra.Command, g *globalOptions, o AuditOptions, file string) error {
	if o.DB == "" {
		return cli.UsageError(manifest.Hintf("pass --db DIR with OSV records or OSV's Go/all.zip export", "no vulnerability database given"))
	}
	threshold, useThreshold := audit.Unknown, o.FailOn != ""
	if useThreshold && o.FailOn != "any" {
		var err error
		if threshold, err = audit.ParseSeverity(o.FailOn); err != nil {
			return cli.UsageError(fmt.Errorf("--fail-on: %w", err))
		}
	}
	db, err := audit.LoadDB(o.DB)
	if err != nil {
		return err
	}
	doc, sig, err := sbomOf(file, o.Keys)
	if err != nil {
		return err
	}
	r := auditResult{File: file, Signature: sig, Report: db.Audit(audit.PackagesFromSBOM(doc))}
	p := cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON)
	if err := p.Print(r, func(w io.Writer) { printAudit(w, r, doc) }); err != nil {
		return err
	}
	if !useThreshold {
		return nil
	}
	if _, err := r.AtOrAbove(threshold); err != nil {
		return manifest.WithExitCode(err, manifest.ExitFindings)
	}
	return nil
}

// sbomOf returns the SBOM of a bundle file, or reads FILE as an SPDX
// document when it is JSON.
func sbomOf(file string, keys []string) (*sbom.Document, string, error) {
	if head, err := readHead(file); err == nil && bytes.HasPrefix(bytes.TrimSpace(head), []byte("{")) {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, "", err
		}
		doc, err := sbom.Decode(b)
		return doc, "not applicable (an SPDX document)", err
	}
	b, ix, key, err := reviewedBundle(file, keys, false)
	if err != nil {
		return nil, "", err
	}
	defer b.Close()
	sig := "not checked (pass --key)"
	if key != nil {
		sig = "verified by " + key.KeyID
	}
	raw, err := sbom.ForBundle(ix, b)
	if err != nil {
		return nil, "", err
	}
	doc, err := sbom.Decode(raw)
	return doc, sig, err
}

func readHead(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 64)
	n, _ := io.ReadFull(f, buf)
	return buf[:n], nil
}

func printAudit(w io.Writer, r auditResult, doc *sbom.Document) {
	fmt.Fprintf(w, "audit      %s (%s)\n", r.File, doc.Name)
	fmt.Fprintf(w, "signature  %s\n", r.Signature)
	fmt.Fprintf(w, "database   %s: %d OSV records\n", r.Database, r.Records)
	fmt.Fprintf(w, "checked    %d package versions\n\n", r.Checked)
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "no known vulnerabilities found")
	} else {
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tID\tPACKAGE\tVERSION\tFIXED IN")
		for _, f := range r.Findings {
			fixed := strings.Join(f.Fixed, ", ")
			if fixed == "" {
				fixed = "no fix published"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Severity, f.ID, f.Name, f.Version, fixed)
		}
		tw.Flush()
		fmt.Fprintln(w)
		for _, f := range r.Findings {
			fmt.Fprintf(w, "%s (%s) %s\n", f.ID, strings.Join(f.Aliases, ", "), f.Summary)
			fmt.Fprintf(w, "  %s %s in: %s\n", f.Name, f.Version, strings.Join(f.Where, "; "))
			if f.SeveritySource != "" {
				fmt.Fprintf(w, "  severity %s: %s\n", f.Severity, f.SeveritySource)
			}
		}
	}
	counts := map[audit.Severity]int{}
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	var parts []string
	for s := audit.Critical; s >= audit.Unknown; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "\n%d finding(s): %s\n", len(r.Findings), strings.Join(parts, ", "))
	}
	if len(r.NotChecked) > 0 {
		fmt.Fprintf(w, "\nnot checked (%d):\n", len(r.NotChecked))
		for _, n := range r.NotChecked {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
}

package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/sbom"
	"github.com/satchel-dev/satchel/verify"
)

// InspectOptions configure `satchel-bundle inspect`.
type InspectOptions struct {
	Keys  []string
	Files bool
	SBOM  bool
}

func newInspectCommand(g *globalOptions) *cobra.Command {
	var o InspectOptions
	c := &cobra.Command{
		Use:   "inspect FILE [--key PUB] [--files] [--sbom] [--json]",
		Short: "Show a bundle's components, versions, sources, images, sizes and glibc needs",
		Long: `inspect prints what a bundle carries: each component's version and, per
platform, its upstream URL and digest (and where that digest came from), the
files it installs with their sizes and the highest glibc they need, the images
with their digests and platforms, compatibility notes, and whether the
signature verifies (with --key) or was not checked.

With --sbom it prints the bundle's software bill of materials instead (the
one the bundle carries, signed through its index; generated for older
bundles), as SPDX 2.3 JSON: each component artifact (upstream URL, digest, license), the
files it installs, the Go modules and Go version compiled into each Go
binary (read from the binaries, offline), and each image with its layers
and the OS packages its package database lists.`,
		Example: "  satchel-bundle inspect kylin.satchel --key satchel.pub\n  satchel-bundle inspect kylin.satchel --json | jq '.index.components[].version'",
		Args:    cobra.ExactArgs(1),
		RunE:    func(c *cobra.Command, args []string) error { return runInspect(c, g, o, args[0]) },
	}
	c.Flags().StringArrayVar(&o.Keys, "key", nil, "check the signature with this public key (repeatable)")
	c.Flags().BoolVar(&o.Files, "files", false, "list every file")
	c.Flags().BoolVar(&o.SBOM, "sbom", false, "print the bundle's SBOM (SPDX 2.3 JSON: artifacts, files, Go modules of each binary, images and their OS packages)")
	return c
}

type inspectResult struct {
	File      string `json:"file"`
	Size      int64  `json:"size"`
	Signature string `json:"signature"` // "verified", "not checked", "invalid: ..."
	KeyID     string `json:"keyID,omitempty"`
	// Provenance is "verified", "not checked (pass --key)" or "none".
	Provenance string          `json:"provenance"`
	Index      *manifest.Index `json:"index"`
}

func runInspect(c *cobra.Command, g *globalOptions, o InspectOptions, file string) error {
	if o.SBOM {
		return printSBOM(c, file, o.Keys)
	}
	b, err := pack.OpenPath(file)
	if err != nil {
		return err
	}
	defer b.Close()
	r := inspectResult{File: file, Signature: "not checked (pass --key)"}
	if st, err := os.Stat(file); err == nil {
		r.Size = st.Size()
	}
	// Without a key the index is still checked as the installer checks it
	// (rules and layout): only the signature is skipped.
	var keys []*verify.Verifier
	if len(o.Keys) > 0 {
		if keys, err = loadKeys(o.Keys); err != nil {
			return err
		}
	}
	ix, key, err := pack.VerifyBundle(b, keys, pack.VerifyOptions{SkipSignature: len(keys) == 0})
	if err != nil {
		return err
	}
	r.Index = ix
	if key != nil {
		r.Signature, r.KeyID = "verified", key.KeyID
	}
	switch {
	case !ix.HasProvenance():
		r.Provenance = "none"
	case key == nil:
		r.Provenance = "present, not checked (pass --key)"
	default:
		if err := checkProvenance(b, ix, keys); err != nil {
			return err
		}
		r.Provenance = "verified (SLSA v1, subject satchel.json)"
	}
	return cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON).Print(r, func(w io.Writer) { printInspect(w, r, o.Files) })
}

// printInspect prints the index for people. Every string from the bundle
// goes through human.Safe: Validate refuses control characters already, and
// this keeps it so should a rule ever be relaxed.
func printInspect(w io.Writer, r inspectResult, files bool) {
	ix := r.Index
	q := human.Safe
	fmt.Fprintf(w, "bundle     %s %s (sequence %d)\n", q(ix.Name), q(ix.Version), ix.Sequence)
	fmt.Fprintf(w, "file       %s, %s\n", q(r.File), human.Bytes(r.Size))
	fmt.Fprintf(w, "created    %s\n", ix.Created.Format("2006-01-02 15:04:05 UTC"))
	if ix.Profile != "" {
		fmt.Fprintf(w, "profile    %s\n", q(ix.Profile))
	}
	fmt.Fprintf(w, "platforms  %s\n", human.SafeList(ix.Platforms, ", "))
	fmt.Fprintf(w, "requires   satchel-install ≥ %s", q(ix.Requirements.Installer))
	if ix.Requirements.MinKernel != "" {
		fmt.Fprintf(w, ", kernel ≥ %s", q(ix.Requirements.MinKernel))
	}
	fmt.Fprintln(w)
	sig := r.Signature
	if r.KeyID != "" {
		sig += " by " + r.KeyID
	}
	fmt.Fprintf(w, "signature  %s\n", sig)
	fmt.Fprintf(w, "provenance %s\n", r.Provenance)
	if d, ok := ix.SBOMDigest(); ok {
		fmt.Fprintf(w, "sbom       SPDX 2.3, %s (inspect --sbom prints it)\n", d)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tVERSION\tPLATFORM\tFILES\tSIZE\tGLIBC\tDIGEST (SOURCE)")
	for _, comp := range ix.Components {
		for _, a := range comp.Artifacts {
			// The artifact's own release: a platform may carry another
			// than the component's version.
			v := comp.ArtifactVersion(&a)
			if comp.Variant != "" {
				v += " " + comp.Variant
			}
			var size int64
			glibc := "-"
			for _, f := range a.Files {
				size += f.Size
				glibc = maxGlibc(glibc, f.Glibc)
			}
			digest := string(a.Digest)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s… (%s)\n", q(comp.Name), q(v), q(a.Platform), len(a.Files), human.Bytes(size), q(glibc), q(digest[:min(len(digest), 23)]), q(a.DigestSource))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, comp := range ix.Components {
		for _, a := range comp.Artifacts {
			fmt.Fprintf(w, "%s %s %s\n  %s\n  %s\n", q(comp.Name), q(comp.ArtifactVersion(&a)), q(a.Platform), q(a.URL), q(string(a.Digest)))
			if files {
				for _, f := range a.Files {
					if f.Type == manifest.TypeSymlink {
						fmt.Fprintf(w, "    %s -> %s\n", q(f.Path), q(f.Target))
						continue
					}
					fmt.Fprintf(w, "    %04o %10d %-8s %s\n", f.Mode, f.Size, q(orDash(f.Glibc)), q(f.Path))
				}
			}
		}
	}
	if len(ix.Images) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "IMAGE\tROLE\tPLATFORMS\tBLOBS\tDIGEST")
		for _, im := range ix.Images {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", q(im.Ref), q(orDash(im.Role)), human.SafeList(im.Platforms, ","), len(im.Blobs), q(string(im.Digest)))
		}
		tw.Flush()
	}
	// Components the bundle carries for some of its platforms only.
	for _, comp := range ix.Components {
		var missing []string
		for _, pl := range ix.Platforms {
			if len(comp.ArtifactsFor(pl)) == 0 {
				missing = append(missing, pl)
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(w, "\n%s is not carried for %s: a host of that platform gets none of it", q(comp.Name), human.SafeList(missing, ", "))
		}
	}
	printNotes(w, ix.Notes)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// maxGlibc keeps the highest glibc need; "static" and "" need none.
func maxGlibc(cur, next string) string {
	if next == "" || next == manifest.GlibcStatic {
		if cur == "-" && next == manifest.GlibcStatic {
			return manifest.GlibcStatic
		}
		return cur
	}
	if cur == "-" || cur == manifest.GlibcStatic || manifest.CompareVersions(cur, next) < 0 {
		return next
	}
	return cur
}

// printSBOM writes the bundle's SPDX document to stdout: the one it
// carries, or for a bundle built before bundles carried one, one generated
// from it.
func printSBOM(c *cobra.Command, file string, keys []string) error {
	b, ix, _, err := reviewedBundle(file, keys, false)
	if err != nil {
		return err
	}
	defer b.Close()
	out, err := sbom.ForBundle(ix, b)
	if err != nil {
		return err
	}
	_, err = c.OutOrStdout().Write(out)
	return err
}

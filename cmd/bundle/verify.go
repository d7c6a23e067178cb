package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/verify"
)

// VerifyOptions configure `satchel-bundle verify`.
type VerifyOptions struct {
	Keys []string
}

func newVerifyCommand(g *globalOptions) *cobra.Command {
	var o VerifyOptions
	c := &cobra.Command{
		Use:   "verify --key PUB FILE",
		Short: "Check a bundle's signature, layout and every blob and file digest",
		Long: `verify checks the signature over satchel.json first, then the index's
structure and rules (every file stays under /usr/local or /opt, no setuid or
world-writable modes, no symlink leading out, no control characters), then
that the file holds exactly what the deterministic writer produces, then every
blob's digest, then every file's content digest after decompression: the
same checks the installer makes. A bundle's provenance (satchel.provenance.json,
in-toto SLSA v1 in a DSSE envelope) must verify with the same keys, name this
satchel.json as its subject and list exactly the bundle's artifacts and images. The first failure is reported
with exit code 3. FILE may be a .satchel file, the first part of a split set, a
parts list, or a self-extracting .run.`,
		Example: "  satchel-bundle verify --key satchel.pub kylin-runtimes-2025.04.0.satchel",
		Args:    cobra.ExactArgs(1),
		RunE:    func(c *cobra.Command, args []string) error { return runVerify(c, g, o, args[0]) },
	}
	c.Flags().StringArrayVar(&o.Keys, "key", nil, "trusted public key (repeatable; required)")
	return c
}

func loadKeys(paths []string) ([]*verify.Verifier, error) {
	var keys []*verify.Verifier
	for _, p := range paths {
		v, err := verify.LoadVerifierFile(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, v)
	}
	return keys, nil
}

type verifyResult struct {
	File     string `json:"file"`
	Verified bool   `json:"verified"`
	KeyID    string `json:"keyID"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Sequence uint64 `json:"sequence"`
	Blobs    int    `json:"blobs"`
	Files    int    `json:"files"`
	// Provenance is "verified" or "none" (a bundle built before bundles
	// carried one).
	Provenance string `json:"provenance"`
	SBOM       string `json:"sbom,omitempty"`
}

func runVerify(c *cobra.Command, g *globalOptions, o VerifyOptions, file string) error {
	if len(o.Keys) == 0 {
		return cli.UsageError(manifest.Hintf("pass --key satchel.pub (the public key of whoever signed the bundle)", "no trusted key given"))
	}
	keys, err := loadKeys(o.Keys)
	if err != nil {
		return err
	}
	b, err := pack.OpenPath(file)
	if err != nil {
		return err
	}
	defer b.Close()
	ix, key, err := pack.VerifyBundle(b, keys, pack.VerifyOptions{Deep: true})
	if err != nil {
		return err
	}
	r := verifyResult{File: file, Verified: true, KeyID: key.KeyID, Name: ix.Name, Version: ix.Version, Sequence: ix.Sequence, Blobs: len(ix.Blobs), Provenance: "none"}
	if ix.HasProvenance() {
		if err := checkProvenance(b, ix, keys); err != nil {
			return err
		}
		r.Provenance = "verified"
	}
	if d, ok := ix.SBOMDigest(); ok {
		r.SBOM = string(d)
	}
	for _, comp := range ix.Components {
		for _, a := range comp.Artifacts {
			r.Files += len(a.Files)
		}
	}
	return cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON).Print(r, func(w io.Writer) {
		fmt.Fprintf(w, "OK %s: %s %s (sequence %d) signed by %s; %d blobs and %d files verified\n",
			human.Safe(file), human.Safe(ix.Name), human.Safe(ix.Version), ix.Sequence, key.KeyID, r.Blobs, r.Files)
		if r.Provenance == "verified" {
			fmt.Fprintf(w, "OK provenance: SLSA v1, subject satchel.json, every artifact and image as the index records them\n")
		} else {
			fmt.Fprintf(w, "no provenance (the bundle was built before bundles carried one)\n")
		}
	})
}

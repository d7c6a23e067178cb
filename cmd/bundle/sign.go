package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/provenance"
	"github.com/satchel-dev/satchel/sign"
	"github.com/satchel-dev/satchel/verify"
)

// SignOptions configure `satchel-bundle sign`.
type SignOptions struct {
	Key       string
	Output    string
	TrustKeys []string
}

func newSignCommand(g *globalOptions) *cobra.Command {
	var o SignOptions
	c := &cobra.Command{
		Use:   "sign --key KEY FILE [-o OUT]",
		Short: "(Re-)sign a bundle, e.g. with a release key after CI built it",
		Long: `sign replaces a bundle's signature, and its provenance's, with ones made by KEY. The bundle is first
checked as the installer checks it (index rules, layout, every blob and file); pass --trust PUB to also require that the
current signature is valid (a CI key handing over to a release key).`,
		Example: "  satchel-bundle sign --key release.key --trust ci.pub kylin.satchel",
		Args:    cobra.ExactArgs(1),
		RunE:    func(c *cobra.Command, args []string) error { return runSign(c, g, o, args[0]) },
	}
	c.Flags().StringVar(&o.Key, "key", "", "signing key: a PEM file or a KMS URI (required)")
	c.Flags().StringVarP(&o.Output, "output", "o", "", "write the re-signed bundle here (default: replace FILE)")
	c.Flags().StringArrayVar(&o.TrustKeys, "trust", nil, "require the existing signature to verify with this public key")
	return c
}

func runSign(c *cobra.Command, g *globalOptions, o SignOptions, file string) error {
	if o.Key == "" {
		return cli.UsageError(manifest.Hintf("pass --key satchel.key", "no signing key given"))
	}
	signer, err := sign.LoadSigner(c.Context(), o.Key, sign.PasswordFromEnv(cli.Password))
	if err != nil {
		return err
	}
	b, err := pack.OpenPath(file)
	if err != nil {
		return err
	}
	defer b.Close()
	// The bundle must pass what the installer checks (layout, rules, every
	// blob and file) before a key vouches for it; with --trust, its current
	// signature too.
	opts := pack.VerifyOptions{Deep: true, SkipSignature: len(o.TrustKeys) == 0}
	var keys []*verify.Verifier
	if len(o.TrustKeys) > 0 {
		if keys, err = loadKeys(o.TrustKeys); err != nil {
			return err
		}
	}
	ix, _, err := pack.VerifyBundle(b, keys, opts)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		if err := checkProvenance(b, ix, keys); err != nil {
			return err
		}
	}
	sig, err := signer.Sign(b.IndexJSON())
	if err != nil {
		return err
	}
	// The provenance is signed with the bundle key: hand it over too.
	var prov []byte
	if ix.HasProvenance() {
		if prov, err = provenance.Resign(b.Provenance(), signer); err != nil {
			return err
		}
	}
	out := o.Output
	if out == "" {
		out = file
	}
	// WriteFileEntries writes beside the target and renames over it at the
	// end: the input stays readable while it is copied.
	if err := pack.WriteFileEntries(out, true, pack.Entries{Index: b.IndexJSON(), Signature: sig, Provenance: prov}, ix, b); err != nil {
		return err
	}
	return cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON).Print(map[string]string{"file": out, "keyID": signer.KeyID()}, func(w io.Writer) {
		fmt.Fprintf(w, "signed %s with %s\n", out, signer.KeyID())
	})
}

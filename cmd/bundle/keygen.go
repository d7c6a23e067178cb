package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/fsutil"
	"github.com/satchel-dev/satchel/sign"
	"github.com/satchel-dev/satchel/verify"
)

// KeygenOptions configure `satchel-bundle keygen`.
type KeygenOptions struct {
	Algorithm string
	Prefix    string
	Force     bool
}

func newKeygenCommand(g *globalOptions) *cobra.Command {
	var o KeygenOptions
	c := &cobra.Command{
		Use:   "keygen [--algorithm ecdsa-p256|ed25519|rsa-4096] [--output-prefix satchel]",
		Short: "Create a signing key pair (cosign-compatible encrypted private key + public key)",
		Long: `keygen writes PREFIX.key (an encrypted private key in the format cosign uses,
so cosign can sign and verify with it too) and PREFIX.pub. The password comes
from SATCHEL_PASSWORD or a prompt. Copy PREFIX.pub to the disconnected hosts
(/etc/satchel/keys/) and keep PREFIX.key on the build host.`,
		Example: "  SATCHEL_PASSWORD=... satchel-bundle keygen\n  satchel-bundle keygen --algorithm ed25519 --output-prefix ci",
		Args:    cobra.NoArgs,
		RunE:    func(c *cobra.Command, _ []string) error { return runKeygen(c, g, o) },
	}
	c.Flags().StringVar(&o.Algorithm, "algorithm", string(sign.ECDSAP256), "key algorithm: ecdsa-p256, ed25519 or rsa-4096")
	c.Flags().StringVar(&o.Prefix, "output-prefix", "satchel", "write PREFIX.key and PREFIX.pub")
	c.Flags().BoolVar(&o.Force, "force", false, "replace existing key files")
	return c
}

func runKeygen(c *cobra.Command, g *globalOptions, o KeygenOptions) error {
	pass, err := cli.Password(true)
	if err != nil {
		return err
	}
	priv, pub, err := sign.GenerateKeyPair(sign.Algorithm(o.Algorithm), pass)
	if err != nil {
		return err
	}
	keyFile, pubFile := o.Prefix+".key", o.Prefix+".pub"
	if err := fsutil.WriteFileAtomic(keyFile, priv, 0o600, o.Force); err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(pubFile, pub, 0o644, o.Force); err != nil {
		return err
	}
	v, err := verify.LoadVerifier(pub, pubFile)
	if err != nil {
		return err
	}
	out := map[string]string{"privateKey": keyFile, "publicKey": pubFile, "keyID": v.KeyID, "algorithm": o.Algorithm}
	return cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON).Print(out, func(w io.Writer) {
		fmt.Fprintf(w, "wrote %s (private, encrypted) and %s (public)\nkey id %s\n", keyFile, pubFile, v.KeyID)
	})
}

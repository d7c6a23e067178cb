package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/bundler"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/sign"
)

// BuildOptions configure `satchel-bundle build`.
type BuildOptions struct {
	sourceOptions
	LockFile  string
	Platforms []string
	Key       string
	Output    string
	Force     bool
	Strict    bool
}

func newBuildCommand(g *globalOptions) *cobra.Command {
	var o BuildOptions
	c := &cobra.Command{
		Use:   "build [-f bundle.yaml] [--lock bundle.lock] --key KEY -o OUT.satchel",
		Short: "Fetch, unpack, pack and sign a bundle",
		Long: `build fetches every pinned artifact (into a content-addressed cache: a warm
cache does no network I/O), checks its digest, unpacks the files the catalog
installs, pulls the images by digest for the bundle's platforms, and writes one
signed bundle file. The bundle carries its SBOM (SPDX 2.3 JSON) and its
provenance (in-toto SLSA v1, DSSE-signed with the same key). The same lock and
SOURCE_DATE_EPOCH give a byte-identical bundle.

An artifact must be pinned in the spec, the profile or the lock; run
` + "`satchel-bundle lock`" + ` first for what upstream publishes no pin for.

Security and end-of-life notes about the pinned releases (CVE ids, fixed-in
releases, sources) are printed and recorded in the bundle's index. With
--strict, build refuses a bundle with a known-vulnerable pin (exit code 6,
before any download).
SATCHEL_PASSWORD unlocks an encrypted key without a prompt.`,
		Example: `  satchel-bundle build -f bundle.yaml --key satchel.key -o kylin-runtimes-2025.04.0.satchel
  # straight from a built-in profile (lock it first: Docker publishes no checksums):
  satchel-bundle lock --profile kylin-v10 && satchel-bundle build --profile kylin-v10 --key satchel.key -o kylin.satchel
  # from an internal mirror, amd64 only:
  satchel-bundle build --key satchel.key -o k.satchel --platform linux/amd64 \
    --mirror https://github.com=http://nexus.internal/github \
    --registry-mirror docker.io=harbor.internal/dockerhub`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runBuild(c, g, o) },
	}
	o.register(c)
	c.Flags().StringVar(&o.LockFile, "lock", "", "lock file (default: bundle.lock beside the spec, when it exists)")
	c.Flags().StringSliceVar(&o.Platforms, "platform", nil, "only these platforms, e.g. linux/amd64 (default: all in the spec)")
	c.Flags().StringVar(&o.Key, "key", "", "signing key: a PEM file or a KMS URI (required)")
	c.Flags().StringVarP(&o.Output, "output", "o", "", "bundle file to write (required)")
	c.Flags().BoolVar(&o.Force, "force", false, "replace an existing output file")
	c.Flags().BoolVar(&o.Strict, "strict", false, "refuse a bundle with a known-vulnerable pin (a security note applies; exit code 6)")
	return c
}

func runBuild(c *cobra.Command, g *globalOptions, o BuildOptions) error {
	if o.Output == "" {
		return cli.UsageError(manifest.Hintf("pass -o NAME.satchel", "no output file given"))
	}
	if o.Key == "" {
		return cli.UsageError(manifest.Hintf("create a key with `satchel-bundle keygen`, then pass --key satchel.key", "no signing key given"))
	}
	spec, err := o.spec(c)
	if err != nil {
		return err
	}
	bo := bundler.Options{Platforms: o.Platforms, Output: o.Output, Force: o.Force, Strict: o.Strict, Progress: progressFunc(c.ErrOrStderr(), g.JSON)}
	if err := o.apply(&bo); err != nil {
		return err
	}
	if bo.Lock, err = readLockFor(o.SpecFile, o.LockFile); err != nil {
		return err
	}
	// The provenance names the spec and lock by the digests of their bytes.
	if o.Profile == "" {
		if bo.Spec, err = inputFile(o.SpecFile); err != nil {
			return err
		}
	}
	if p := lockPathFor(o.SpecFile, o.LockFile); p != "" {
		if bo.LockFile, err = inputFile(p); err != nil {
			return err
		}
	}
	signer, err := sign.LoadSigner(c.Context(), o.Key, sign.PasswordFromEnv(cli.Password))
	if err != nil {
		return err
	}
	bo.Signer = signer
	// Unlocking an encrypted key runs scrypt over 64 MB, garbage by now:
	// return it to the system so it does not add to the build's peak RSS
	// (143 -> 98 MB on the benchmark corpus).
	debug.FreeOSMemory()
	p := cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON)
	res, err := bundler.Build(c.Context(), spec, bo)
	if err != nil {
		return err
	}
	return p.Print(res, func(w io.Writer) {
		for _, warning := range res.Warnings {
			fmt.Fprintf(c.ErrOrStderr(), "warning: %s\n", warning)
		}
		fmt.Fprintf(w, "wrote %s: %s %s (sequence %d), %s, %d files in %d blobs, platforms %s, signed by %s, in %s\n",
			res.Path, res.Index.Name, res.Index.Version, res.Index.Sequence, human.Bytes(res.Size), res.Files, res.Blobs,
			strings.Join(res.Index.Platforms, ", "), signer.KeyID(), res.Duration.Round(1e7))
		printReleaseNotes(w, res.Index.Notes)
	})
}

package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/bundler"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/fsutil"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/profiles"
)

// LockOptions configure `satchel-bundle lock`.
type LockOptions struct {
	sourceOptions
	Output string
}

func newLockCommand(g *globalOptions) *cobra.Command {
	var o LockOptions
	c := &cobra.Command{
		Use:   "lock [-f bundle.yaml] [-o bundle.lock]",
		Short: "Pin every artifact URL and digest, and every image digest, per platform",
		Long: `lock resolves the spec against its profile and records, for every platform,
the URL and digest of every upstream artifact and the digest of every image.
A digest comes from the spec or profile, from the upstream checksum file, or
— where upstream publishes none (Docker static, kata) — from the downloaded
bytes, marked "download" in the lock so auditors see it. Every artifact is
downloaded once (into the cache build reads) so that the lock also records its
verified size, which build enforces. Commit the lock.`,
		Example: `  satchel-bundle lock -f bundle.yaml
  satchel-bundle lock --mirror https://github.com=http://nexus.internal/github`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runLock(c, g, o) },
	}
	o.register(c)
	c.Flags().StringVarP(&o.Output, "output", "o", "bundle.lock", "where to write the lock")
	return c
}

func runLock(c *cobra.Command, g *globalOptions, o LockOptions) error {
	spec, err := o.spec(c)
	if err != nil {
		return err
	}
	bo := bundler.Options{Progress: progressFunc(c.ErrOrStderr(), g.JSON)}
	if err := o.apply(&bo); err != nil {
		return err
	}
	lk, err := bundler.Lock(c.Context(), spec, bo)
	if err != nil {
		return err
	}
	res, err := profiles.Resolve(spec) // Lock resolved it already: cannot fail now
	if err != nil {
		return err
	}
	b, err := lk.Marshal()
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(o.Output, b, 0o644, true); err != nil {
		return err
	}
	return cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON).Print(lk, func(w io.Writer) {
		n := 0
		for _, comp := range lk.Components {
			n += len(comp.Artifacts)
		}
		fmt.Fprintf(w, "locked %d artifacts of %d components and %d images into %s\n", n, len(lk.Components), len(lk.Images), o.Output)
		for _, comp := range lk.Components {
			for _, a := range comp.Artifacts {
				if a.DigestSource == manifest.DigestFromDownload {
					fmt.Fprintf(w, "  note: %s %s (%s) publishes no checksum; pinned from the downloaded bytes\n", comp.Name, lockedVersion(comp, a), a.Platform)
				}
			}
		}
		printReleaseNotes(w, res.Notes)
	})
}

// lockedVersion is an artifact's release: its own, or (a lock written
// before artifacts had versions) the component's.
func lockedVersion(c manifest.LockedComponent, a manifest.LockedArtifact) string {
	if a.Version != "" {
		return a.Version
	}
	return c.Version
}

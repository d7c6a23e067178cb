package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/version"
	"github.com/satchel-dev/satchel/manifest"
)

type versionInfo struct {
	Version      string `json:"version"`
	BundleFormat int    `json:"bundleFormat"`
	Go           string `json:"go"`
	Platform     string `json:"platform"`
}

func newVersionCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the installer's version and the bundle format it reads",
		Example: "  satchel-install version\n  satchel-install version --json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			v := versionInfo{Version: version.Version, BundleFormat: manifest.FormatVersion, Go: runtime.Version(),
				Platform: runtime.GOOS + "/" + runtime.GOARCH}
			return cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON).Print(v, func(w io.Writer) {
				fmt.Fprintf(w, "satchel-install %s (bundle format %d, %s, %s, no network client)\n", v.Version, v.BundleFormat, v.Go, v.Platform)
			})
		},
	}
}

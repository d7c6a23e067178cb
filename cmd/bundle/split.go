package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
)

// SplitOptions configure `satchel-bundle split`.
type SplitOptions struct {
	Size      string
	Installer string
}

func newSplitCommand(g *globalOptions) *cobra.Command {
	var o SplitOptions
	c := &cobra.Command{
		Use:   "split FILE --size fat32|dvd|bd|SIZE  |  split FILE --self-extracting satchel-install",
		Short: "Cut a bundle into parts for removable media, or make a self-extracting .run",
		Long: `split writes FILE.001, FILE.002, … and a parts list FILE.parts.json holding each
part's size and sha256; satchel-install reads the parts as one bundle when given
FILE.parts.json or FILE.001. Presets: fat32 (4 GiB - 1), dvd (4.7 GB),
bd (25 GB); or a size such as 700M.

With --self-extracting INSTALLER it writes FILE.run instead: the static
installer followed by the bundle, one file to carry (run it as
./FILE.run apply --key satchel.pub).`,
		Example: "  satchel-bundle split kylin.satchel --size fat32\n  satchel-bundle split kylin.satchel --self-extracting bin/linux-amd64/satchel-install",
		Args:    cobra.ExactArgs(1),
		RunE:    func(c *cobra.Command, args []string) error { return runSplit(c, g, o, args[0]) },
	}
	c.Flags().StringVar(&o.Size, "size", "", "part size: fat32, dvd, bd or a number of bytes")
	c.Flags().StringVar(&o.Installer, "self-extracting", "", "write FILE.run from this satchel-install binary")
	return c
}

func runSplit(c *cobra.Command, g *globalOptions, o SplitOptions, file string) error {
	p := cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON)
	if o.Installer != "" {
		out := strings.TrimSuffix(file, ".satchel") + ".run"
		if err := pack.WriteSelfExtracting(out, o.Installer, file); err != nil {
			return err
		}
		return p.Print(map[string]string{"file": out}, func(w io.Writer) { fmt.Fprintf(w, "wrote %s\n", out) })
	}
	if o.Size == "" {
		return cli.UsageError(manifest.Hintf("pass --size fat32|dvd|bd|BYTES or --self-extracting INSTALLER", "nothing to do"))
	}
	n, err := pack.ParsePartSize(o.Size)
	if err != nil {
		return cli.UsageError(err)
	}
	parts, list, err := pack.Split(file, n)
	if err != nil {
		return err
	}
	return p.Print(map[string]any{"parts": parts, "list": list}, func(w io.Writer) {
		fmt.Fprintf(w, "wrote %d parts and %s\n", len(parts), list)
		for _, part := range parts {
			fmt.Fprintf(w, "  %s\n", part)
		}
	})
}

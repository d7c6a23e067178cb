package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/fsutil"
	"github.com/satchel-dev/satchel/profiles"
)

// InitOptions configure `satchel-bundle init`.
type InitOptions struct {
	Profile string
	Output  string
	Force   bool
}

func newInitCommand(g *globalOptions) *cobra.Command {
	var o InitOptions
	c := &cobra.Command{
		Use:   "init --profile NAME [-o bundle.yaml]",
		Short: "Write a starting bundle spec from a built-in profile",
		Example: `  satchel-bundle init --profile kylin-v10 -o bundle.yaml
  satchel-bundle init --profile modern -o - | less`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runInit(c, o) },
	}
	c.Flags().StringVar(&o.Profile, "profile", "kylin-v10", "built-in profile to start from (see `satchel-bundle profiles`)")
	c.Flags().StringVarP(&o.Output, "output", "o", "bundle.yaml", "where to write the spec; - for stdout")
	c.Flags().BoolVar(&o.Force, "force", false, "replace an existing file")
	return c
}

func runInit(c *cobra.Command, o InitOptions) error {
	spec, err := profiles.InitSpec(o.Profile)
	if err != nil {
		return err
	}
	b, err := spec.Marshal()
	if err != nil {
		return err
	}
	b = append([]byte(fmt.Sprintf("# satchel bundle spec, started from profile %q.\n# Override components or images below; `satchel-bundle lock` pins the rest.\n", o.Profile)), b...)
	if o.Output == "-" {
		_, err := c.OutOrStdout().Write(b)
		return err
	}
	if err := fsutil.WriteFileAtomic(o.Output, b, 0o644, o.Force); err != nil {
		return err
	}
	return cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), false).Print(nil, func(w io.Writer) {
		fmt.Fprintf(w, "wrote %s from profile %s\n", o.Output, o.Profile)
		for _, l := range profileNoteSummary(o.Profile) {
			fmt.Fprintf(w, "  %s (lock, build and inspect show the notes)\n", l)
		}
		fmt.Fprintf(w, "next: satchel-bundle lock -f %s\n", o.Output)
	})
}

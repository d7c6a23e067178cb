package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/profiles"
)

func newProfilesCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "profiles",
		Short:   "List built-in profiles and what each pins",
		Example: "  satchel-bundle profiles\n  satchel-bundle profiles --json | jq '.[].name'",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ps := profiles.List()
			return cli.NewPrinter(c.OutOrStdout(), c.ErrOrStderr(), g.JSON).Print(ps, func(w io.Writer) {
				for _, p := range ps {
					fmt.Fprintf(w, "%s — %s\n  platforms: %s\n", p.Name, firstLine(p.Description), strings.Join(p.Platforms, ", "))
					tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
					for _, comp := range p.Components {
						v := comp.Version
						if comp.Variant != "" {
							v += " (" + comp.Variant + ")"
						}
						pins := []string{}
						for plat, src := range comp.Sources {
							if src.Digest != "" {
								pins = append(pins, plat)
							}
						}
						pinned := "digest at lock time"
						if len(pins) > 0 {
							pinned = "pinned: " + strings.Join(sorted(pins), ", ")
						}
						fmt.Fprintf(tw, "  %s\t%s\t%s\n", comp.Name, v, pinned)
					}
					for _, im := range p.Images {
						pinned := "digest at lock time"
						if im.Digest != "" {
							pinned = "pinned: " + string(im.Digest)[:19] + "…"
						}
						fmt.Fprintf(tw, "  image\t%s\t%s\n", im.Ref, pinned)
					}
					tw.Flush()
					fmt.Fprintln(w)
				}
			})
		},
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(strings.TrimSpace(s), "\n"); return l }

func sorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
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
					pinned := pinnedPlatforms(p.Name)
					for _, comp := range p.Components {
						v := comp.Version
						if comp.Variant != "" {
							v += " (" + comp.Variant + ")"
						}
						// A platform that carries another release says so.
						for _, pl := range slices.Sorted(maps.Keys(comp.Versions)) {
							v += ", " + pl + ": " + comp.Versions[pl]
						}
						if len(comp.Platforms) > 0 {
							v += " (only " + strings.Join(comp.Platforms, ", ") + ")"
						}
						pins := "digest at lock time"
						if ps := pinned[comp.Name]; len(ps) > 0 {
							pins = "pinned: " + strings.Join(ps, ", ")
						}
						fmt.Fprintf(tw, "  %s\t%s\t%s\n", comp.Name, v, pins)
					}
					for _, im := range p.Images {
						pinned := "digest at lock time"
						if im.Digest != "" {
							pinned = "pinned: " + string(im.Digest)[:19] + "…"
						}
						fmt.Fprintf(tw, "  image\t%s\t%s\n", im.Ref, pinned)
					}
					tw.Flush()
					for _, l := range profileNoteSummary(p.Name) {
						fmt.Fprintf(w, "  %s\n", l)
					}
					fmt.Fprintln(w)
				}
			})
		},
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(strings.TrimSpace(s), "\n"); return l }

// pinnedPlatforms lists, per component, the platforms whose every artifact
// the profile pins by digest.
func pinnedPlatforms(profile string) map[string][]string {
	out := map[string][]string{}
	spec, err := profiles.InitSpec(profile)
	if err != nil {
		return out
	}
	res, err := profiles.Resolve(spec)
	if err != nil {
		return out
	}
	for _, c := range res.Components {
		missing := map[string]bool{}
		seen := []string{}
		for _, a := range c.Artifacts {
			if !slices.Contains(seen, a.Platform) {
				seen = append(seen, a.Platform)
			}
			if a.Digest == "" {
				missing[a.Platform] = true
			}
		}
		for _, p := range seen {
			if !missing[p] {
				out[c.Name] = append(out[c.Name], p)
			}
		}
		slices.Sort(out[c.Name])
	}
	return out
}

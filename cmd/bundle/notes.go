package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/profiles"
)

// printNotes lists notes for people: security and end-of-life notes first
// (the pins to change), then the others.
func printNotes(w io.Writer, notes []manifest.Note) {
	if len(notes) == 0 {
		return
	}
	q := human.Safe
	fmt.Fprintln(w, "\nnotes:")
	for _, first := range []bool{true, false} {
		for _, n := range notes {
			if (n.Kind != "") != first {
				continue
			}
			kind := q(n.Severity)
			if n.Kind != "" {
				kind = q(n.Kind) + ", " + kind
			}
			where := ""
			if n.Platform != "" {
				where = " (" + q(n.Platform) + ")"
			}
			fmt.Fprintf(w, "  [%s] %s%s: %s\n", kind, q(n.ID), where, q(n.Text))
		}
	}
}

// printReleaseNotes lists only the security and end-of-life notes: what
// lock and build tell about the pins (inspect shows every note).
func printReleaseNotes(w io.Writer, notes []manifest.Note) {
	var rel []manifest.Note
	for _, n := range notes {
		if n.Kind != "" {
			rel = append(rel, n)
		}
	}
	printNotes(w, rel)
}

// profileNoteSummary says, in one line each, which of a profile's pins have
// security and end-of-life notes ("" for none): for `profiles` and `init`.
func profileNoteSummary(profile string) []string {
	spec, err := profiles.InitSpec(profile)
	if err != nil {
		return nil
	}
	res, err := profiles.Resolve(spec)
	if err != nil {
		return nil
	}
	var out []string
	for _, kind := range []string{manifest.NoteSecurity, manifest.NoteEOL} {
		var order []string
		cves := map[string]int{}
		for _, n := range res.Notes {
			if n.Kind != kind {
				continue
			}
			pin := n.Component + " " + n.Version
			if _, ok := cves[pin]; !ok {
				order = append(order, pin)
			}
			cves[pin] += len(n.CVEs)
		}
		if len(order) == 0 {
			continue
		}
		var parts []string
		for _, pin := range order {
			if kind == manifest.NoteSecurity {
				pin = fmt.Sprintf("%s (%d CVEs)", pin, cves[pin])
			}
			parts = append(parts, pin)
		}
		label := "known CVEs"
		if kind == manifest.NoteEOL {
			label = "end of life"
		}
		out = append(out, label+": "+strings.Join(parts, ", "))
	}
	return out
}

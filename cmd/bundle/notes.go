package main

import (
	"fmt"
	"io"

	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
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

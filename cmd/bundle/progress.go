package main

import (
	"fmt"
	"io"
	"os"
	"path"

	"github.com/satchel-dev/satchel/fetch"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/human"
)

// progressFunc reports downloads on stderr: one line per finished or
// retried artifact, and a live byte count on a terminal. Cached artifacts
// are counted, not listed, so a warm build stays quiet.
func progressFunc(stderr io.Writer, quiet bool) func(fetch.Event) {
	if quiet {
		return nil
	}
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = cli.IsTerminal(f)
	}
	return func(e fetch.Event) {
		name := path.Base(e.URL)
		switch e.Kind {
		case fetch.EventProgress:
			if tty {
				if e.Total > 0 {
					fmt.Fprintf(stderr, "\r  %-60s %5.1f%% of %s", name, 100*float64(e.Done)/float64(e.Total), human.Bytes(e.Total))
				} else {
					fmt.Fprintf(stderr, "\r  %-60s %s", name, human.Bytes(e.Done))
				}
			}
		case fetch.EventRetry:
			fmt.Fprintf(stderr, "\r  %-60s retrying: %v\n", name, e.Err)
		case fetch.EventDone:
			fmt.Fprintf(stderr, "\r  %-60s %s fetched and verified\n", name, human.Bytes(e.Done))
		}
	}
}

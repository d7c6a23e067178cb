package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/satchel-dev/satchel/install"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/human"
)

// progress draws the engine's progress on one status line of stderr, and
// only when stderr is a terminal: logs and Ansible get the report alone.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	dirty bool
	phase string
}

func newProgress(stderr io.Writer) *progress {
	p := &progress{w: stderr}
	if f, ok := stderr.(*os.File); ok {
		p.tty = cli.IsTerminal(f)
	}
	return p
}

func (p *progress) event(e install.Event) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var line string
	switch e.Kind {
	case install.EventPhase:
		p.phase = e.Desc
		line = e.Desc
	case install.EventBytes:
		if e.Total > 0 {
			line = fmt.Sprintf("%s  %3.0f%% of %s", e.Desc, 100*float64(e.Done)/float64(e.Total), human.Bytes(e.Total))
		} else {
			line = fmt.Sprintf("%s  %s", e.Desc, human.Bytes(e.Done))
		}
	default:
		return
	}
	line = human.Safe(line)
	if len(line) > 100 {
		line = line[:97] + "..."
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.dirty = true
}

// clear removes the status line before other output.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.dirty {
		fmt.Fprint(p.w, "\r\033[K")
		p.dirty = false
	}
}

package install

// Event kinds reported to WithProgress.
const (
	EventPhase = "phase" // a phase begins: Desc names it
	EventStep  = "step"  // journal step Step of Steps finished: Desc says what it did
	EventBytes = "bytes" // Done of Total bytes of a long step (blob checks, image imports)
)

// Event is one progress report. Long steps report bytes so a front end can
// draw a bar; nothing here prints anything.
type Event struct {
	Kind  string
	Desc  string
	Step  int
	Steps int
	Done  int64
	Total int64
}

func (in *Installer) progress(e Event) {
	if in.progressFn != nil {
		in.progressFn(e)
	}
}

func (in *Installer) phase(desc string) { in.progress(Event{Kind: EventPhase, Desc: desc}) }

// byteProgress returns a callback that accumulates byte counts into events.
func (in *Installer) byteProgress(desc string, total int64) func(int64) {
	var done int64
	return func(n int64) {
		done += n
		in.progress(Event{Kind: EventBytes, Desc: desc, Done: done, Total: total})
	}
}

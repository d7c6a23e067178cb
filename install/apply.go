package install

import (
	"context"
	"fmt"
	"slices"

	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/install/txn"
	"github.com/satchel-dev/satchel/manifest"
)

// Recovery describes what the start of a run did about an interrupted one.
type Recovery = txn.Recovery

// Report is what Apply did.
type Report struct {
	Plan *plan.Plan `json:"plan"`
	// RunID names the journaled run; empty when nothing needed doing.
	RunID    string    `json:"runID,omitempty"`
	Recovery *Recovery `json:"recovery,omitempty"`
	// Steps is the number of journal steps carried out.
	Steps   int     `json:"steps"`
	Changed bool    `json:"changed"`
	Seconds float64 `json:"seconds"`
}

// Apply verifies every blob of src, takes the lock, rolls back (or
// finishes) an interrupted earlier run, makes the plan and carries it out,
// one journaled step per change, then records the state. A failing step
// rolls back every change of this run. Running it again with the same
// bundle changes nothing.
func (in *Installer) Apply(ctx context.Context, src *Source) (rep *Report, err error) {
	start := in.o.now()
	if err := in.requireTrust(src); err != nil {
		return nil, err
	}
	// Every blob is checked before the first byte is written anywhere.
	in.phase("checking blob digests")
	err = src.bundle.VerifyBlobs(src.Index, func(done, total int64) {
		in.progress(Event{Kind: EventBytes, Desc: "checking blob digests", Done: done, Total: total})
	})
	if err != nil {
		return nil, manifest.WithExitCode(err, manifest.ExitVerification)
	}
	unlock, stateDirs, err := in.lock()
	if err != nil {
		return nil, err
	}
	defer func() {
		unlock()
		in.cleanupIfEmpty(stateDirs...)
	}()
	rep = &Report{}
	env := in.env(src.bundle)
	if rep.Recovery, err = txn.Recover(ctx, env); err != nil {
		return rep, err
	}
	if rep.Recovery != nil {
		if st, _ := in.readState(); st == nil {
			// A rolled-back first install had created satchel's directories.
			for _, d := range rep.Recovery.StateDirs {
				if !slices.Contains(stateDirs, d) {
					stateDirs = append(stateDirs, d)
				}
			}
		}
	}
	// Planned under the lock: nobody changes the root between this plan and its execution.
	p, err := in.Plan(ctx, src)
	if err != nil {
		return rep, err
	}
	rep.Plan = p
	if p.Preflight.Failed {
		return rep, preflightError(p.Preflight)
	}
	if !p.Changed {
		rep.Changed = rep.Recovery != nil
		rep.Seconds = in.o.now().Sub(start).Seconds()
		return rep, nil
	}
	run, err := txn.Begin(env, txn.KindApply, src.Index.Name, src.Index.Sequence, stateDirs)
	if err != nil {
		return rep, err
	}
	rep.RunID = run.ID()
	changes := p.Changes()
	n := 0
	for _, a := range changes {
		if a.Kind != plan.KindState {
			n++
		}
	}
	i := 0
	for _, a := range changes {
		if a.Kind == plan.KindState {
			continue
		}
		i++
		in.progress(Event{Kind: EventPhase, Desc: fmt.Sprintf("[%d/%d] %s", i, n, a.Describe())})
		if err := run.Execute(ctx, p, a); err != nil {
			rep.Steps = run.Steps()
			return rep, rollbackError(run.Rollback(ctx, fmt.Errorf("%s: %w", a.Describe(), err)))
		}
	}
	st := plan.BuildState(p, run.Originals, run.CreatedDirs())
	st.RunID, st.When = run.ID(), in.o.now().UTC().Truncate(1e9)
	if err := run.Commit(st, plan.Discards(p), nil); err != nil {
		rep.Steps = run.Steps()
		return rep, rollbackError(run.Rollback(ctx, fmt.Errorf("recording the state: %w", err)))
	}
	rep.Steps, rep.Changed = run.Steps(), true
	rep.Seconds = in.o.now().Sub(start).Seconds()
	return rep, nil
}

// rollbackError gives a rollback's outcome its remedy and keeps the exit
// code of its cause.
func rollbackError(err error) error {
	code := manifest.ExitCode(err)
	switch err.(type) {
	case *txn.RollbackError:
		return manifest.WithExitCode(manifest.HintError(err,
			"fix the cause; the next satchel-install run finishes the rollback from "+string(state.JournalPath)), code)
	}
	if manifest.Hint(err) != "" {
		return err
	}
	return manifest.WithExitCode(manifest.HintError(err, "fix the cause and run apply again"), code)
}

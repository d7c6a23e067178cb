package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestRules(t *testing.T) {
	inner := Remedyf("the specific fix", "disk full")
	mid := WithRemedy(fmt.Errorf("writing /etc/x: %w", inner), "the general fix")
	outer := WithClass(fmt.Errorf("apply: %w", mid), Verification)
	if got := Remedy(outer); got != "the specific fix" {
		t.Errorf("innermost remedy: %q", got)
	}
	if got := outer.Error(); got != "apply: writing /etc/x: disk full" {
		t.Errorf("message carries a hint: %q", got)
	}
	if ExitCode(outer) != 3 || ExitCode(WithClass(outer, Preflight)) != 4 || ExitCode(errors.New("x")) != 1 || ExitCode(nil) != 0 {
		t.Error("exit codes")
	}
	if ExitCode(fmt.Errorf("wrapped: %w", WithClass(errors.New("x"), Usage))) != 2 {
		t.Error("class through a plain wrap")
	}
	joined := errors.Join(errors.New("a"), Remedyf("fix b", "b"))
	if Remedy(joined) != "fix b" {
		t.Errorf("remedy in a joined error: %q", Remedy(joined))
	}
	if WithRemedy(nil, "x") != nil || WithClass(nil, Usage) != nil {
		t.Error("nil stays nil")
	}
}

package runner

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestExecRunner(t *testing.T) {
	ctx := context.Background()
	r := ExecRunner{}
	out, err := r.Run(ctx, Cmd{Path: "/bin/sh", Args: []string{"-c", "cat; echo done"}, Stdin: strings.NewReader("in\n")})
	if err != nil || string(out) != "in\ndone\n" {
		t.Fatalf("stdin/stdout: %q %v", out, err)
	}
	_, err = r.Run(ctx, Cmd{Path: "/bin/sh", Args: []string{"-c", "echo one >&2; echo two >&2; exit 3"}})
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitCode != 3 || !strings.Contains(err.Error(), "one | two") || NotStarted(err) {
		t.Errorf("failing command: %#v", err)
	}
	_, err = r.Run(ctx, Cmd{Path: "/nonexistent/tool"})
	if !NotStarted(err) {
		t.Errorf("missing program not recognized: %v", err)
	}
	_, err = r.Run(ctx, Cmd{Path: "/bin/sleep", Args: []string{"5"}, Timeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("timeout: %v", err)
	}
	// A prefix goes in front of every command line.
	p := ExecRunner{Prefix: []string{"/usr/bin/env", "SATCHEL_PREFIX_TEST=yes"}}
	out, err = p.Run(ctx, Cmd{Path: "/bin/sh", Args: []string{"-c", "echo $SATCHEL_PREFIX_TEST"}})
	if err != nil || string(out) != "yes\n" {
		t.Errorf("prefix: %q %v", out, err)
	}
}

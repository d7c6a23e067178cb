// Package runner runs the external commands the installer needs (systemctl,
// ctr, docker, kubectl) behind one interface, so tests substitute a
// recording fake and the end-to-end harness a runner that enters another
// mount namespace.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"strings"
	"time"
)

// Cmd is one external command the installer runs.
type Cmd struct {
	// Path is the program: an absolute path or a name looked up in PATH.
	Path  string
	Args  []string
	Stdin io.Reader
	// Env entries are added to the installer's environment.
	Env []string
	// Timeout bounds the command; zero means the runner's default.
	Timeout time.Duration
}

func (c Cmd) String() string { return strings.Join(append([]string{c.Path}, c.Args...), " ") }

// Runner runs external commands. The installer never runs one any other
// way, so tests substitute a recording fake and the e2e harness a runner
// that enters another mount namespace.
type Runner interface {
	// Run runs c and returns its standard output. A non-zero exit is a
	// *CommandError carrying the end of standard error.
	Run(ctx context.Context, c Cmd) ([]byte, error)
	// LookPath reports where a program named in PATH is, as exec.LookPath.
	LookPath(name string) (string, error)
}

// CommandError is a command that failed to start or exited non-zero.
type CommandError struct {
	Cmd      string
	ExitCode int // -1 when it did not start
	Stderr   string
	Err      error
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Cmd, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + LastLines(s, 5)
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// NotStarted reports whether err means the program could not be executed
// at all (absent, not executable, wrong architecture), as opposed to failing.
func NotStarted(err error) bool {
	var ce *CommandError
	if errors.As(err, &ce) && ce.ExitCode == -1 {
		return true
	}
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
}

func LastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// ExecRunner runs commands with os/exec. Prefix, when set, is put in front
// of every command line (for example "nsenter -t PID -m -r --"), so the
// installer can act inside a namespace where the installed tree is "/".
type ExecRunner struct {
	Prefix []string
	// Timeout is the default per command (0: 10 minutes).
	Timeout time.Duration
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, c Cmd) ([]byte, error) {
	t := c.Timeout
	if t == 0 {
		t = r.Timeout
	}
	if t == 0 {
		t = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	argv := append(append(append([]string{}, r.Prefix...), c.Path), c.Args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = c.Stdin
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &limitedBuffer{max: 64 << 10, b: &errb}
	// A child that keeps stdout open after exiting must not hang the installer.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		ce := &CommandError{Cmd: c.String(), ExitCode: -1, Stderr: errb.String(), Err: err}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ce.ExitCode = ee.ExitCode()
		}
		if ctx.Err() != nil {
			ce.Err = fmt.Errorf("%w (after %s)", ctx.Err(), t)
		}
		return out.Bytes(), ce
	}
	return out.Bytes(), nil
}

// LookPath implements Runner.
func (r ExecRunner) LookPath(name string) (string, error) {
	if len(r.Prefix) > 0 {
		// PATH inside the namespace is not ours to search; let the shell there find it.
		return name, nil
	}
	return exec.LookPath(name)
}

type limitedBuffer struct {
	max int
	b   *bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		if len(p) > room {
			l.b.Write(p[:room])
		} else {
			l.b.Write(p)
		}
	}
	return len(p), nil
}

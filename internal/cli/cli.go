// Package cli holds what satchel-bundle and satchel-install share on the
// command line: running a cobra root with satchel's exit codes, printing
// errors with their hint line, and text/JSON output behind one interface.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/fault"
	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
)

// usageError marks errors in how a command was called (exit code 2).
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// UsageError marks err as a usage error (exit code 2).
func UsageError(err error) error { return fault.WithClass(usageError{err}, fault.Usage) }

// Execute runs root and returns the process exit code. Errors are printed
// once, to stderr, as "name: message" with the hint on its own line.
func Execute(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return UsageError(fault.WithRemedy(err, "see `"+c.CommandPath()+" --help`"))
	})
	cmd, err := root.ExecuteC()
	if err == nil {
		return manifest.ExitOK
	}
	code := fault.ExitCode(err)
	if code == manifest.ExitFailure && isCobraUsage(err) {
		code = manifest.ExitUsage
		err = fault.WithRemedy(err, "see `"+cmd.CommandPath()+" --help`")
	}
	PrintError(stderr, root.Name(), err)
	return code
}

// PrintError prints err as "name: message", then its remedy, if any, on
// one "hint:" line. Errors may quote what a bundle or a file said: no
// control characters reach the terminal (human.SafeWriter).
func PrintError(w io.Writer, name string, err error) {
	fmt.Fprintf(human.SafeWriter(w), "%s: %s\n", name, fault.Text(err))
}

// ErrorJSON is how a failed command reports in --json mode, on stdout,
// so automation (Ansible) reads a result either way.
type ErrorJSON struct {
	Error    string `json:"error"`
	Hint     string `json:"hint,omitempty"`
	Class    string `json:"class"`
	ExitCode int    `json:"exitCode"`
}

// NewErrorJSON describes err for --json output.
func NewErrorJSON(err error) ErrorJSON {
	return ErrorJSON{Error: err.Error(), Hint: fault.Remedy(err), Class: fault.ClassOf(err).String(), ExitCode: fault.ExitCode(err)}
}

// cobra reports unknown commands and argument-count errors as plain errors.
func isCobraUsage(err error) bool {
	var u usageError
	if errors.As(err, &u) {
		return true
	}
	s := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "received ", "unknown flag", "unknown shorthand", "flag needs an argument", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// Printer writes a command's result either for people or for machines.
type Printer interface {
	// Print writes v as JSON, or calls text for the human form.
	Print(v any, text func(w io.Writer)) error
	// Infof writes progress and notes for people (stderr in JSON mode, dropped when quiet).
	Infof(format string, args ...any)
	JSON() bool
}

// NewPrinter returns a JSON printer when asJSON, else a text printer.
func NewPrinter(stdout, stderr io.Writer, asJSON bool) Printer {
	return &printer{out: stdout, err: stderr, json: asJSON}
}

type printer struct {
	out, err io.Writer
	json     bool
}

func (p *printer) JSON() bool { return p.json }

func (p *printer) Print(v any, text func(io.Writer)) error {
	if p.json {
		enc := json.NewEncoder(p.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	// Text output is assembled from strings of bundles and host files:
	// callers pass each through human.Safe, and this guard catches the rest.
	text(human.SafeWriter(p.out))
	return nil
}

func (p *printer) Infof(format string, args ...any) {
	w := p.out
	if p.json {
		w = p.err
	}
	fmt.Fprintf(w, format, args...)
	if !strings.HasSuffix(format, "\n") {
		fmt.Fprintln(w)
	}
}

// IsTerminal reports whether f is a terminal (for progress displays).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

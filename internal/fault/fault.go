// Package fault gives errors two pieces of data the command line needs:
// a Class (what kind of failure: a usage error, a failed verification, a
// failed preflight…), which the commands turn into their exit code, and a
// remedy (what to do about it), which they print on a "hint:" line of its
// own. Neither is part of the error's message, so a wrapped error never
// carries two hints, and JSON output keeps message and hint apart.
//
// Rules: the outermost class wins (a caller may reclassify what a library
// reported); the innermost remedy wins (the most specific advice). Library
// code phrases remedies without naming command-line flags; where a flag is
// the remedy, it returns a typed error and the command adds the advice.
package fault

import (
	"errors"
	"fmt"
	"strings"
)

// Class is the kind of a failure. The zero value means "not classified":
// a plain failure.
type Class int

// Classes, with the exit codes of satchel-bundle and satchel-install
// (docs/exit-codes.md).
const (
	Unclassified Class = iota
	Failure            // 1: something went wrong
	Usage              // 2: the command was called wrongly
	Verification       // 3: signature, digest, unsafe entry, no trusted key, downgrade
	Preflight          // 4: the host cannot take the bundle
	WouldChange        // 5: apply --check found a change to make
	Findings           // 6: satchel-bundle audit found vulnerabilities at or above --fail-on
)

// ExitCode is the process exit code for the class.
func (c Class) ExitCode() int {
	if c == Unclassified {
		return 1
	}
	return int(c)
}

func (c Class) String() string {
	switch c {
	case Failure, Unclassified:
		return "failure"
	case Usage:
		return "usage"
	case Verification:
		return "verification"
	case Preflight:
		return "preflight"
	case WouldChange:
		return "would-change"
	case Findings:
		return "findings"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// ClassForExitCode is the class whose exit code is code.
func ClassForExitCode(code int) Class {
	if code >= int(Failure) && code <= int(Findings) {
		return Class(code)
	}
	return Failure
}

// Error is an error with a class and a remedy.
type Error struct {
	Class  Class
	Remedy string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Remedier is an error type that knows its own remedy.
type Remedier interface{ Remedy() string }

// Classifier is an error type that knows its own class.
type Classifier interface{ Class() Class }

// WithRemedy attaches a remedy to err (nil stays nil).
func WithRemedy(err error, remedy string) error {
	if err == nil {
		return nil
	}
	return &Error{Remedy: remedy, Err: err}
}

// Remedyf is an error with a formatted message and a remedy.
func Remedyf(remedy, format string, args ...any) error {
	return &Error{Remedy: remedy, Err: fmt.Errorf(format, args...)}
}

// WithClass classifies err (nil stays nil).
func WithClass(err error, c Class) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Err: err}
}

// New is an error of a class with a remedy.
func New(c Class, remedy, format string, args ...any) error {
	return &Error{Class: c, Remedy: remedy, Err: fmt.Errorf(format, args...)}
}

// ClassOf returns the outermost class in err's chain (Unclassified when
// none); in joined errors, the first classified one.
func ClassOf(err error) Class {
	c := Unclassified
	walk(err, func(e error) bool {
		switch x := e.(type) {
		case *Error:
			c = x.Class
		case Classifier:
			c = x.Class()
		}
		return c == Unclassified
	})
	return c
}

// ExitCode is the exit code for err: 0 for nil, else its class's.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	return ClassOf(err).ExitCode()
}

// Remedy returns the innermost remedy in err's chain ("" when none).
func Remedy(err error) string {
	r := ""
	walk(err, func(e error) bool {
		switch x := e.(type) {
		case *Error:
			if x.Remedy != "" {
				r = x.Remedy
			}
		case Remedier:
			if s := x.Remedy(); s != "" {
				r = s
			}
		}
		return true
	})
	return r
}

// walk visits err's chain outermost first, into joined errors too, while
// fn returns true.
func walk(err error, fn func(error) bool) bool {
	for e := err; e != nil; e = unwrapOne(e) {
		if !fn(e) {
			return false
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				if !walk(x, fn) {
					return false
				}
			}
			return true
		}
	}
	return true
}

func unwrapOne(err error) error { return errors.Unwrap(err) }

// Text renders err for people: its message, then its remedy on a "hint:"
// line. Errors joined at the top (errors.Join: a list of problems, each
// with its own fix) are rendered one after the other, each with its hint.
func Text(err error) string {
	if err == nil {
		return ""
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var parts []string
		for _, e := range j.Unwrap() {
			if e != nil {
				parts = append(parts, Text(e))
			}
		}
		return strings.Join(parts, "\n")
	}
	msg := strings.TrimRight(err.Error(), "\n")
	if r := Remedy(err); r != "" {
		msg += "\nhint: " + r
	}
	return msg
}

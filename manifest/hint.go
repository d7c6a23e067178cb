package manifest

import (
	"errors"
	"fmt"
)

// hintError carries a one-line remedy for the user next to an error, in the
// style of age: the message says what went wrong, the hint what to do.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "\nhint: " + e.hint }
func (e *hintError) Unwrap() error { return e.err }

// HintError wraps err with a remedy printed on its own "hint:" line. The hint
// of the innermost HintError wins when errors are wrapped again, so the most
// specific advice is the one shown.
func HintError(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: hint}
}

// Hintf is HintError with a formatted error.
func Hintf(hint, format string, args ...any) error {
	return HintError(fmt.Errorf(format, args...), hint)
}

// Hint returns the remedy attached to err, if any.
func Hint(err error) string {
	var h *hintError
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}

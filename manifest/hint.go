package manifest

import "github.com/satchel-dev/satchel/internal/fault"

// HintError attaches a remedy to err (fault.WithRemedy). The remedy is
// data, not part of the message: the commands print it on a "hint:" line
// of its own, the innermost one when errors are wrapped again.
func HintError(err error, hint string) error { return fault.WithRemedy(err, hint) }

// Hintf is an error with a formatted message and a remedy (fault.Remedyf).
func Hintf(hint, format string, args ...any) error { return fault.Remedyf(hint, format, args...) }

// Hint returns the remedy attached to err (fault.Remedy), if any.
func Hint(err error) string { return fault.Remedy(err) }

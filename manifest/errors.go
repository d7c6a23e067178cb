package manifest

import "errors"

// Exit codes shared by satchel-bundle and satchel-install (DESIGN.md, "Exit codes").
const (
	ExitOK           = 0
	ExitFailure      = 1
	ExitUsage        = 2
	ExitVerification = 3 // signature, digest, unsafe entry, no trusted key, downgrade
	ExitPreflight    = 4
	ExitWouldChange  = 5 // apply --check found a change to make
	ExitFindings     = 6 // satchel-bundle audit --fail-on: vulnerabilities at or above the threshold
)

type codedError struct {
	err  error
	code int
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// WithExitCode marks err so that the command exits with code. The outermost
// mark wins, so a caller can reclassify what a library reported.
func WithExitCode(err error, code int) error {
	if err == nil {
		return nil
	}
	return &codedError{err: err, code: code}
}

// VerificationError marks err as a verification failure (exit code 3).
func VerificationError(err error) error { return WithExitCode(err, ExitVerification) }

// ExitCode returns the exit code for err: 0 for nil, the marked code, or 1.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var c *codedError
	if errors.As(err, &c) {
		return c.code
	}
	return ExitFailure
}

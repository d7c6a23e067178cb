package manifest

import "github.com/satchel-dev/satchel/internal/fault"

// Exit codes shared by satchel-bundle and satchel-install (docs/exit-codes.md).
// They are the exit codes of internal/fault's classes.
const (
	ExitOK           = 0
	ExitFailure      = 1
	ExitUsage        = 2
	ExitVerification = 3 // signature, digest, unsafe entry, no trusted key, downgrade
	ExitPreflight    = 4
	ExitWouldChange  = 5 // apply --check found a change to make
	ExitFindings     = 6 // satchel-bundle audit --fail-on: vulnerabilities at or above the threshold
)

// WithExitCode classifies err with the class whose exit code is code
// (fault.WithClass). The outermost class wins, so a caller can reclassify
// what a library reported.
func WithExitCode(err error, code int) error {
	return fault.WithClass(err, fault.ClassForExitCode(code))
}

// VerificationError classifies err as a verification failure (exit code 3).
func VerificationError(err error) error { return fault.WithClass(err, fault.Verification) }

// ExitCode returns the exit code for err: 0 for nil, its class's, or 1.
func ExitCode(err error) int { return fault.ExitCode(err) }

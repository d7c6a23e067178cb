//go:build !nokms

package main

// KMS providers (awskms://, gcpkms://, azurekms://, hashivault://) for
// signing in CI. Only the bundler links them: the installer never signs and
// has no network client. Build with -tags nokms for a smaller binary.
import _ "github.com/satchel-dev/satchel/sign/kms"

// Package manifest holds satchel's three documents and the small vocabulary
// every other package shares.
//
// # Documents
//
//   - Spec (bundle.yaml): what a user asks to carry, strict YAML.
//   - Lock (bundle.lock): every URL and digest per platform, written by `satchel-bundle lock`.
//   - Index (satchel.json): the signed table of contents of a bundle, canonical JSON.
//
// # Shared vocabulary
//
// Digest ("sha256:…"/"sha512:…"), HintError (errors that end with a "hint:"
// line telling the user what to do) and exit codes (WithExitCode, ExitCode).
//
// This package sits at the bottom of the import graph and imports no network code.
package manifest

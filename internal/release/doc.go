// Package release holds the tests that check how satchel's binaries are
// built: static, reproducible, for linux/amd64 and linux/arm64, with the
// same flags the Makefile uses. It has no code of its own.
package release

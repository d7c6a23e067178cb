package main

import (
	"os"
	"path/filepath"

	"github.com/satchel-dev/satchel/manifest"
)

// readLockFor reads the explicit lock, or bundle.lock beside the spec when
// it exists; a build without a lock is fine when the spec pins everything.
func readLockFor(specFile, lockFile string) (*manifest.Lock, error) {
	if lockFile != "" {
		return manifest.ReadLockFile(lockFile)
	}
	def := filepath.Join(filepath.Dir(specFile), "bundle.lock")
	if _, err := os.Stat(def); err != nil {
		return nil, nil
	}
	return manifest.ReadLockFile(def)
}

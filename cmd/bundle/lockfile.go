package main

import (
	"os"
	"path/filepath"

	"github.com/satchel-dev/satchel/bundler"
	"github.com/satchel-dev/satchel/manifest"
)

// lockPathFor is the explicit lock, or bundle.lock beside the spec when it
// exists, or "" for none.
func lockPathFor(specFile, lockFile string) string {
	if lockFile != "" {
		return lockFile
	}
	def := filepath.Join(filepath.Dir(specFile), "bundle.lock")
	if _, err := os.Stat(def); err != nil {
		return ""
	}
	return def
}

// readLockFor reads the explicit lock, or bundle.lock beside the spec when
// it exists; a build without a lock is fine when the spec pins everything.
func readLockFor(specFile, lockFile string) (*manifest.Lock, error) {
	p := lockPathFor(specFile, lockFile)
	if p == "" {
		return nil, nil
	}
	return manifest.ReadLockFile(p)
}

// inputFile names a build input in the provenance by its base name and the
// sha256 of its bytes.
func inputFile(path string) (bundler.Input, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return bundler.Input{}, err
	}
	return bundler.Input{Name: filepath.Base(path), Digest: manifest.DigestOf(manifest.SHA256, b)}, nil
}

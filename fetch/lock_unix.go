//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package fetch

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// lockFile takes an exclusive lock on path, so that two satchel processes
// sharing a cache do not write the same part file. It waits while another
// process holds the lock, until ctx ends.
func lockFile(ctx context.Context, path string, log *slog.Logger) (func(), error) {
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fd := int(file.Fd())
	for waited := false; ; {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			file.Close()
			return nil, err
		}
		if !waited {
			waited = true
			log.Info("waiting for another process downloading the same artifact", "lock", path)
		}
		select {
		case <-ctx.Done():
			file.Close()
			return nil, context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
	// The lock file itself stays: removing it would let a waiter lock an
	// unlinked file while a newcomer locks a fresh one.
	return func() {
		syscall.Flock(fd, syscall.LOCK_UN)
		file.Close()
	}, nil
}

//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package fetch

import (
	"context"
	"log/slog"
)

// lockFile is a no-op where flock(2) is missing: downloads are still
// serialized inside one process, and a part file mangled by two processes
// fails its digest check rather than entering the cache.
func lockFile(ctx context.Context, path string, log *slog.Logger) (func(), error) {
	return func() {}, nil
}

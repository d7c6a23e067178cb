//go:build unix

package verify

import "syscall"

// nonblockFlag opens a FIFO without waiting for a writer, so that a key path
// naming one is refused instead of hanging.
const nonblockFlag = syscall.O_NONBLOCK

//go:build linux && (amd64 || arm64)

// Command enosys runs a command with chosen system calls failing with ENOSYS,
// as on a kernel that predates them (a test tool: see internal/testenv/enosys).
//
//	enosys -s pidfd_open -s openat2 [-s NAME]... -- CMD ARGS...
//	enosys -k 4.19 [-s NAME]... -- CMD ARGS...   every known call newer than 4.19
//	enosys -l                                    list the known calls and their releases
//
// It sets PR_SET_NO_NEW_PRIVS, loads a seccomp filter on all of its threads
// and execs CMD, so CMD and all its children see the calls as missing.
// Exit status: CMD's, or 125 when enosys itself fails, 127 when CMD is not
// found. Build it static: CGO_ENABLED=0 go build ./test/enosys.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/satchel-dev/satchel/internal/testenv/enosys"
)

func init() {
	// no_new_privs and execve act on the calling thread: stay on one.
	runtime.LockOSThread()
}

type names []string

func (n *names) String() string     { return strings.Join(*n, ",") }
func (n *names) Set(v string) error { *n = append(*n, strings.Split(v, ",")...); return nil }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("enosys", flag.ContinueOnError)
	var calls names
	fs.Var(&calls, "s", "system call to fail with ENOSYS (repeatable, or comma-separated)")
	kernel := fs.String("k", "", "also fail every known call newer than this kernel release (e.g. 4.19)")
	list := fs.Bool("l", false, "list the known system calls, their numbers here and the release that added them")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: enosys [-k RELEASE] -s NAME [-s NAME]... -- CMD [ARGS...]\n       enosys -l\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 125
	}
	if *list {
		for _, n := range enosys.Names() {
			nr, _ := enosys.Number(n)
			fmt.Printf("%-24s %4d  Linux %s\n", n, nr, enosys.Since(n))
		}
		return 0
	}
	if *kernel != "" {
		newer, err := enosys.Newer(*kernel)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 125
		}
		calls = append(calls, newer...)
	}
	if len(calls) == 0 || fs.NArg() == 0 {
		fs.Usage()
		return 125
	}
	err := enosys.Exec(calls, fs.Args(), os.Environ())
	fmt.Fprintf(os.Stderr, "enosys: %v\n", err)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return 127
	}
	return 125
}

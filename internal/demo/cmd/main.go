// Command demo runs the offline satchel demo (see package demo). Use `make demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/satchel-dev/satchel/internal/demo"
)

func main() {
	var o demo.Options
	flag.StringVar(&o.BinDir, "bin", "bin", "directory with satchel-bundle and satchel-install")
	flag.StringVar(&o.Dir, "dir", "demo", "work directory")
	flag.StringVar(&o.Root, "root", "demo-root", "install root")
	flag.Parse()
	if err := demo.Run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

package cli

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/satchel-dev/satchel/manifest"
)

// Password returns the key password: $SATCHEL_PASSWORD when set, else a
// prompt on the terminal (asked twice when confirm is true).
func Password(confirm bool) ([]byte, error) {
	if p, ok := os.LookupEnv("SATCHEL_PASSWORD"); ok {
		return []byte(p), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		return nil, manifest.HintError(errors.New("a key password is needed and there is no terminal to ask on"),
			"set SATCHEL_PASSWORD in the environment (an empty value means no password)")
	}
	defer tty.Close()
	fmt.Fprint(tty, "Enter password for private key: ")
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprint(tty, "Enter password for private key again: ")
		q, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, err
		}
		if string(p) != string(q) {
			return nil, manifest.HintError(errors.New("passwords do not match"), "run the command again")
		}
	}
	return p, nil
}

package host

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// DefaultPackageQuery reads the root's package database: dpkg's status file
// directly, the rpm database through `rpm --root ROOT -q` (its format is
// Berkeley DB or SQLite depending on the rpm version). A root with an rpm
// database but no rpm program on this machine is an error, so the caller
// can say the check did not run.
func DefaultPackageQuery(root string, names []string) ([]Package, error) {
	var out []Package
	var errs []error
	if p, err := resolveIn(root, "/var/lib/dpkg/status"); err == nil {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
		} else {
			out = append(out, parseDpkgStatus(b, names)...)
		}
	}
	if rpmDB(root) {
		pkgs, err := queryRPM(root, names)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, pkgs...)
	}
	return out, errors.Join(errs...)
}

// parseDpkgStatus returns the named packages that dpkg records as installed.
func parseDpkgStatus(b []byte, names []string) []Package {
	var out []Package
	for para := range strings.SplitSeq(string(b), "\n\n") {
		var name, version, status string
		for line := range strings.SplitSeq(para, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, " ") {
				continue
			}
			switch k {
			case "Package":
				name = strings.TrimSpace(v)
			case "Version":
				version = strings.TrimSpace(v)
			case "Status":
				status = strings.TrimSpace(v)
			}
		}
		// "install ok installed"; "deinstall ok config-files" is removed.
		if slices.Contains(names, name) && strings.HasSuffix(status, " installed") {
			out = append(out, Package{Name: name, Version: version, Manager: "dpkg"})
		}
	}
	return out
}

func rpmDB(root string) bool {
	for _, p := range []string{"/var/lib/rpm", "/usr/lib/sysimage/rpm"} {
		if rp, err := resolveIn(root, p); err == nil {
			if entries, err := os.ReadDir(rp); err == nil && len(entries) > 0 {
				return true
			}
		}
	}
	return false
}

func queryRPM(root string, names []string) ([]Package, error) {
	rpm, err := exec.LookPath("rpm")
	if err != nil {
		return nil, fmt.Errorf("the target has an rpm database, but no rpm program is on PATH to read it")
	}
	args := []string{"-q", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"}
	if root != "/" {
		args = append([]string{"--root", root}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, rpm, append(args, names...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// rpm -q exits non-zero when any name is not installed: that is the
	// usual case, so the output decides, and only an empty run with
	// stderr is a failure.
	runErr := cmd.Run()
	var out []Package
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		name, version, ok := strings.Cut(sc.Text(), "\t")
		if ok && slices.Contains(names, name) {
			out = append(out, Package{Name: name, Version: version, Manager: "rpm"})
		}
	}
	if runErr != nil && stdout.Len() == 0 && stderr.Len() > 0 {
		return nil, fmt.Errorf("rpm -q: %v: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

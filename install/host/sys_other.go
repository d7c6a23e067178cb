//go:build !linux

package host

import "errors"

var errNotLinux = errors.New("satchel-install runs on Linux only")

func sysUname() (string, string, error)     { return "", "", errNotLinux }
func statfs(string) (uint64, uint64, error) { return 0, 0, errNotLinux }
func probeKVM(string) error                 { return errNotLinux }
func probePidfdOpen() (bool, error)         { return false, errNotLinux }

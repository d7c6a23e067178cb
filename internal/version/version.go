// Package version carries satchel's release version, set at link time with
// -ldflags "-X github.com/satchel-dev/satchel/internal/version.Version=v1.2.3".
package version

// Version of this build of satchel-bundle and satchel-install.
var Version = "0.1.0-dev"

// FormatInstaller is the lowest installer version that reads the bundles
// this release writes (recorded as requirements.installer).
const FormatInstaller = "0.1.0"

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/bundler"
	"github.com/satchel-dev/satchel/fetch"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/profiles"
)

// sourceOptions are the flags that say where artifacts and images come from.
type sourceOptions struct {
	SpecFile        string
	Profile         string
	Cache           string
	Mirrors         []string
	RegistryMirrors []string
	Insecure        []string
	MaxDownloadSize string
}

func (s *sourceOptions) register(c *cobra.Command) {
	c.Flags().StringVarP(&s.SpecFile, "file", "f", "bundle.yaml", "bundle spec")
	c.Flags().StringVar(&s.Profile, "profile", "", "use a built-in profile as it is instead of a spec file (see `satchel-bundle profiles`)")
	c.Flags().StringVar(&s.Cache, "cache", "", "download cache directory (default: the user cache dir /satchel)")
	c.Flags().StringArrayVar(&s.Mirrors, "mirror", nil, "rewrite URL prefix FROM=TO, e.g. https://github.com=http://nexus.internal/github (repeatable)")
	c.Flags().StringArrayVar(&s.RegistryMirrors, "registry-mirror", nil, "pull images of registry HOST from TO, e.g. docker.io=harbor.internal/dockerhub (repeatable)")
	c.Flags().StringArrayVar(&s.Insecure, "insecure-registry", nil, "registry host that may be reached over plain HTTP (loopback always may)")
	c.Flags().StringVar(&s.MaxDownloadSize, "max-download-size", fmt.Sprintf("%dG", fetch.DefaultMaxDownloadSize>>30),
		"largest download accepted when the lock records no size for it, e.g. 8G (a locked size is enforced exactly)")
}

// spec reads the spec file, or starts one from --profile.
func (s *sourceOptions) spec(c *cobra.Command) (*manifest.Spec, error) {
	if s.Profile != "" {
		if c.Flags().Changed("file") {
			return nil, cli.UsageError(manifest.Hintf("pass either --profile or -f", "--profile and -f both given"))
		}
		return profiles.InitSpec(s.Profile)
	}
	return manifest.ReadSpecFile(s.SpecFile)
}

func (s *sourceOptions) apply(o *bundler.Options) error {
	o.CacheDir = s.Cache
	o.Insecure = s.Insecure
	if s.MaxDownloadSize != "" {
		n, err := fetch.ParseByteSize(s.MaxDownloadSize)
		if err != nil {
			return cli.UsageError(fmt.Errorf("--max-download-size: %w", err))
		}
		o.FetchOptions = append(o.FetchOptions, fetch.WithMaxDownloadSize(n))
	}
	for _, m := range s.Mirrors {
		mm, err := fetch.ParseMirror(m)
		if err != nil {
			return cli.UsageError(err)
		}
		o.Mirrors = append(o.Mirrors, mm)
	}
	for _, m := range s.RegistryMirrors {
		mm, err := fetch.ParseMirror(m)
		if err != nil {
			return cli.UsageError(err)
		}
		o.RegistryMirrors = append(o.RegistryMirrors, mm)
	}
	return nil
}

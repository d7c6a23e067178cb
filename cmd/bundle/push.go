package main

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/push"
)

// PushOptions configure `satchel-bundle push`.
type PushOptions struct {
	To            string
	Keys          []string
	Username      string
	PasswordStdin bool
	CAFile        string
	PlainHTTP     bool
	DryRun        bool
	Jobs          int
}

func newPushCommand(g *globalOptions) *cobra.Command {
	var o PushOptions
	c := &cobra.Command{
		Use:   "push BUNDLE --to REGISTRY[/PREFIX] --key PUB",
		Short: "Push a bundle's images to a registry inside the network, for nodes to pull through a mirror",
		Long: `push verifies BUNDLE as the installer does (signature, index, layout, every
blob and file digest; exit code 3 and nothing sent when that fails), then pushes
every image by digest — index, manifests, config and layer blobs, streamed from
the bundle — and, once every image is complete in the registry, their tags.
Blobs and manifests the registry already has are skipped (HEAD), so a second
push of the same bundle sends next to nothing.

Where images go: the source registry's host is dropped and the repository path
is kept, under the prefix:

  docker.io/library/nginx:1.27.4  ->  harbor.internal/satchel/library/nginx:1.27.4
  registry.k8s.io/pause:3.10      ->  harbor.internal/satchel/pause:3.10

which is what a registry mirror REGISTRY=harbor.internal/satchel serves, so
nodes installed with

  satchel-install apply BUNDLE --registry-mirror docker.io=harbor.internal/satchel \
      --registry-mirror registry.k8s.io=harbor.internal/satchel --registry-ca ca.crt

pull docker.io/library/nginx:1.27.4 from harbor.internal/satchel. push prints
the mapping and the --registry-mirror settings (also in --json).

Credentials come from the Docker config and its credential helpers
(docker login), or from --username with the password on stdin
(--password-stdin). HTTPS only, unless --plain-http; --ca-file adds the CA
of an internal registry's certificate. Exit codes: 0 pushed, 1 failed (the
cause named: unreachable, TLS, credentials, permission), 2 usage,
3 verification failed.`,
		Example: `  satchel-bundle push kylin.satchel --key satchel.pub --to harbor.internal/satchel
  echo "$HARBOR_PASSWORD" | satchel-bundle push kylin.satchel --key satchel.pub \
      --to harbor.internal/satchel --username robot$satchel --password-stdin --ca-file corp-ca.crt
  satchel-bundle push kylin.satchel --key satchel.pub --to 10.0.0.5:5000 --plain-http
  satchel-bundle push kylin.satchel --key satchel.pub --to harbor.internal/satchel --dry-run --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error { return runPush(c, g, o, args[0]) },
	}
	f := c.Flags()
	f.StringVar(&o.To, "to", "", "registry host and optional repository prefix, e.g. harbor.internal/satchel (required)")
	f.StringArrayVar(&o.Keys, "key", nil, "trusted public key (repeatable; required)")
	f.StringVar(&o.Username, "username", "", "registry user (the password comes on stdin with --password-stdin)")
	f.BoolVar(&o.PasswordStdin, "password-stdin", false, "read the registry password from stdin")
	f.StringVar(&o.CAFile, "ca-file", "", "PEM file of the CA that signed the registry's certificate (added to the system's)")
	f.BoolVar(&o.PlainHTTP, "plain-http", false, "allow plain HTTP to the registry (without it, HTTPS only)")
	f.BoolVar(&o.DryRun, "dry-run", false, "verify and print the mapping; contact no registry")
	f.IntVar(&o.Jobs, "jobs", 4, "blobs uploaded in parallel")
	return c
}

func runPush(c *cobra.Command, g *globalOptions, o PushOptions, file string) error {
	if o.To == "" {
		return cli.UsageError(manifest.Hintf("pass --to REGISTRY[/PREFIX], e.g. --to harbor.internal/satchel", "no destination registry given"))
	}
	dst, err := push.ParseDestination(o.To)
	if err != nil {
		return cli.UsageError(fmt.Errorf("--to: %w", err))
	}
	if len(o.Keys) == 0 {
		return cli.UsageError(manifest.Hintf("pass --key satchel.pub (the public key of whoever signed the bundle)", "no trusted key given"))
	}
	if o.Jobs < 1 {
		return cli.UsageError(manifest.Hintf("pass --jobs 1 or more", "--jobs %d", o.Jobs))
	}
	popts := push.Options{PlainHTTP: o.PlainHTTP, DryRun: o.DryRun, Jobs: o.Jobs}
	switch {
	case o.PasswordStdin && o.Username == "":
		return cli.UsageError(manifest.Hintf("pass --username too", "--password-stdin needs --username"))
	case o.Username != "" && !o.PasswordStdin:
		return cli.UsageError(manifest.Hintf("pipe the password in with --password-stdin (it never goes on the command line), or log in with `docker login` and leave --username out",
			"--username needs --password-stdin"))
	case o.Username != "":
		pw, err := io.ReadAll(io.LimitReader(c.InOrStdin(), 64<<10))
		if err != nil {
			return fmt.Errorf("reading the password from stdin: %w", err)
		}
		pass := strings.TrimRight(string(pw), "\r\n")
		if pass == "" {
			return cli.UsageError(manifest.Hintf("pipe the password in, e.g. echo \"$PASSWORD\" | satchel-bundle push ... --password-stdin", "--password-stdin: stdin was empty"))
		}
		popts.Auth = &authn.Basic{Username: o.Username, Password: pass}
	}
	if o.CAFile != "" {
		pool, err := caPool(o.CAFile)
		if err != nil {
			return cli.UsageError(err)
		}
		popts.RootCAs = pool
	}
	keys, err := loadKeys(o.Keys)
	if err != nil {
		return err
	}
	b, err := pack.OpenPath(file)
	if err != nil {
		return err
	}
	defer b.Close()

	stderr := c.ErrOrStderr()
	prog := newPushProgress(stderr)
	popts.Progress = prog.event
	res, err := push.Run(c.Context(), b, keys, dst, popts)
	prog.clear()
	if err != nil {
		return pushError(err, dst)
	}
	res.File = file
	p := cli.NewPrinter(c.OutOrStdout(), stderr, g.JSON)
	return p.Print(res, func(w io.Writer) { printPush(w, res, o) })
}

// caPool is the system's CAs plus those in file.
func caPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, manifest.Hintf("give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)", "--ca-file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// pushError adds the remedy for each kind of registry failure.
func pushError(err error, dst push.Destination) error {
	var pe *push.Error
	if !errors.As(err, &pe) || manifest.Hint(err) != "" {
		return err
	}
	var plain *push.PlainHTTPError
	hint := map[push.ErrorKind]string{
		push.ErrUnreachable:  "check the host and port in --to, that the registry runs, and that this host may reach it",
		push.ErrTLS:          "pass the CA that signed the registry's certificate with --ca-file (PEM), and check that the certificate names " + dst.Registry,
		push.ErrPlainHTTP:    "the registry answered over plain HTTP; give it TLS, or pass --plain-http to send images and credentials unencrypted",
		push.ErrUnauthorized: "log in with `docker login " + dst.Registry + "` (credential helpers work too), or pass --username and the password on stdin with --password-stdin",
		push.ErrDenied:       "the account may not push to " + dst.String() + ": give it push rights there (Harbor: a project member with the Developer role or above)",
	}[pe.Kind]
	if pe.Kind == push.ErrPlainHTTP && errors.As(err, &plain) {
		hint = "the registry at " + dst.Registry + " did not answer over HTTPS; if it really has no TLS, pass --plain-http"
	}
	if hint == "" {
		return err
	}
	return manifest.HintError(err, hint)
}

func printPush(w io.Writer, r *push.Result, o PushOptions) {
	verb := "pushed"
	if r.DryRun {
		verb = "would push"
	}
	fmt.Fprintf(w, "verified %s: %s %s (sequence %d), signed by %s\n", human.Safe(r.File), human.Safe(r.Name), human.Safe(r.Version), r.Sequence, r.KeyID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, im := range r.Images {
		fmt.Fprintf(tw, "%s\t->\t%s\n", human.Safe(im.Source), human.Safe(im.Target))
	}
	tw.Flush()
	for _, im := range r.Images {
		if im.UpstreamDigest != "" {
			fmt.Fprintf(w, "note: %s is pushed as %s, a copy of upstream's %s without the platforms the bundle left out: nodes asking for upstream's digest do not find it\n",
				human.Safe(im.Source), im.Digest, im.UpstreamDigest)
		}
	}
	if r.DryRun {
		fmt.Fprintf(w, "dry run: %s %d images to %s (nothing sent)\n", verb, len(r.Images), human.Safe(r.To))
	} else {
		fmt.Fprintf(w, "%s %d blobs and %d manifests (%s), %d blobs and %d manifests were there; tags last: %d pushed, %d already set; %s sent in %.1f s\n",
			verb, r.BlobsPushed, r.ManifestsPushed, human.Bytes(r.BytesPushed), r.BlobsExisting, r.ManifestsExisting,
			r.TagsPushed, r.TagsExisting, human.Bytes(r.BytesSent), r.Seconds)
	}
	if len(r.Mirrors) > 0 {
		var flags []string
		for _, m := range r.Mirrors {
			flags = append(flags, "--registry-mirror "+m)
		}
		ca := ""
		if o.CAFile != "" {
			ca = " --registry-ca " + path.Base(o.CAFile)
		}
		fmt.Fprintf(w, "nodes pull them with: satchel-install apply BUNDLE %s%s\n", human.Safe(strings.Join(flags, " ")), human.Safe(ca))
	}
}

// pushProgress shows verification and per-blob uploads on stderr: a live
// line on a terminal, and one line per blob pushed either way.
type pushProgress struct {
	w    io.Writer
	tty  bool
	mu   sync.Mutex
	live bool
	last time.Time
	// sizes remember each blob's size from its progress, for its done line.
	sizes map[string]int64
}

func newPushProgress(w io.Writer) *pushProgress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = cli.IsTerminal(f)
	}
	return &pushProgress{w: w, tty: tty, sizes: map[string]int64{}}
}

func short(d manifest.Digest) string {
	s := string(d)
	if len(s) > 19 {
		return s[:19]
	}
	return s
}

func (p *pushProgress) event(e push.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var line bytes.Buffer
	switch e.Kind {
	case push.EventVerify:
		if !p.tty || (time.Since(p.last) < 100*time.Millisecond && e.Done != e.Total) {
			return
		}
		fmt.Fprintf(&line, "\r\033[K  verifying %5.1f%% of %s", 100*float64(e.Done)/float64(max(e.Total, 1)), human.Bytes(e.Total))
		p.live = true
	case push.EventBlobProgress:
		p.sizes[e.Repository+"@"+string(e.Digest)] = e.Total
		if !p.tty || (time.Since(p.last) < 100*time.Millisecond && e.Done != e.Total) {
			return
		}
		fmt.Fprintf(&line, "\r\033[K  %s %s %5.1f%% of %s", short(e.Digest), human.Safe(repoName(e.Repository)), 100*float64(e.Done)/float64(max(e.Total, 1)), human.Bytes(e.Total))
		p.live = true
	case push.EventBlobPushed:
		p.clearLocked()
		size := p.sizes[e.Repository+"@"+string(e.Digest)]
		fmt.Fprintf(&line, "  pushed %s %s (%s)\n", short(e.Digest), human.Safe(repoName(e.Repository)), human.Bytes(size))
	default:
		return
	}
	p.last = time.Now()
	p.w.Write(line.Bytes())
}

// repoName drops the registry host from a repository for display.
func repoName(repo string) string {
	if _, r, ok := strings.Cut(repo, "/"); ok {
		return r
	}
	return repo
}

func (p *pushProgress) clearLocked() {
	if p.live {
		fmt.Fprint(p.w, "\r\033[K")
		p.live = false
	}
}

func (p *pushProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/manifest"
)

// PinnedLabel keeps an image from containerd's garbage collection (CRI
// honours it since containerd 1.7; older versions ignore it harmlessly).
const PinnedLabel = "io.cri-containerd.pinned=pinned"

// stagedList is /var/lib/satchel/images/staged.json: the archives an
// install into a root that containerd could not reach left for
// `satchel-install images import --staged`.
type stagedList struct {
	Version int           `json:"version"`
	Images  []stagedImage `json:"images"`
}

type stagedImage struct {
	Ref    string          `json:"ref"`
	Digest manifest.Digest `json:"digest"`
	// File is the archive's name in the staging directory.
	File       string   `json:"file"`
	Namespaces []string `json:"namespaces"`
	// Docker asks for `docker load` as well, when Docker answers.
	Docker bool `json:"docker,omitempty"`
}

// stagedName is a file name for an image archive: readable, unique by digest.
func stagedName(ref string, d manifest.Digest) string {
	name, _, _ := strings.Cut(ref, "@")
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	h := d.Hex()
	if len(h) > 12 {
		h = h[:12]
	}
	return b.String() + "-" + h + ".tar"
}

// ctrImage is one row of `ctr images ls`.
type ctrImage struct {
	Ref    string
	Digest manifest.Digest
	Pinned bool
}

// ctr runs the given ctr against the installer's containerd socket.
func (in *Installer) ctr(ctx context.Context, ctr, ns string, stdin io.Reader, args ...string) ([]byte, error) {
	full := append([]string{"-a", in.containerdSocket, "-n", ns}, args...)
	return in.runner.Run(ctx, Cmd{Path: ctr, Args: full, Stdin: stdin, Timeout: 30 * time.Minute})
}

// ctrImages lists a namespace's images: `ctr images ls` prints REF TYPE
// DIGEST SIZE(2 fields) PLATFORMS LABELS.
func (in *Installer) ctrImages(ctx context.Context, ctr, ns string) (map[string]ctrImage, error) {
	out, err := in.ctr(ctx, ctr, ns, nil, "images", "ls")
	if err != nil {
		return nil, err
	}
	imgs := map[string]ctrImage{}
	for i, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 4 {
			continue
		}
		labels := f[len(f)-1]
		imgs[f[0]] = ctrImage{Ref: f[0], Digest: manifest.Digest(f[2]), Pinned: strings.Contains(labels, PinnedLabel)}
	}
	return imgs, nil
}

// importImage streams an image archive from the bundle into `ctr images
// import -` for each namespace and pins it. No copy reaches the disk.
func (in *Installer) importImage(ctx context.Context, ctrPath string, src *Source, platform string, im *manifest.Image, namespaces []string) error {
	total := archiveSize(src.Index, *im) * int64(len(namespaces))
	prog := in.byteProgress("importing "+im.Ref, total)
	for _, ns := range namespaces {
		err := in.streamInto(ctx, func(w io.Writer) error {
			return writeImageArchive(w, src.Index, *im, src.bundle, platform, prog)
		}, func(r io.Reader) error {
			_, err := in.ctr(ctx, ctrPath, ns, r, "images", "import", "-")
			return err
		})
		if err != nil {
			return fmt.Errorf("importing %s into containerd namespace %s: %w", im.Ref, ns, err)
		}
		if _, err := in.ctr(ctx, ctrPath, ns, nil, "images", "label", im.Ref, PinnedLabel); err != nil {
			return fmt.Errorf("pinning %s in namespace %s: %w", im.Ref, ns, err)
		}
	}
	return nil
}

// streamInto connects a producer to a consumer through a pipe. A producer
// error (a blob that fails its digest) wins over the consumer's complaint
// about a truncated stream.
func (in *Installer) streamInto(ctx context.Context, produce func(io.Writer) error, consume func(io.Reader) error) error {
	pr, pw := io.Pipe()
	perr := make(chan error, 1)
	go func() {
		err := produce(pw)
		pw.CloseWithError(err)
		perr <- err
	}()
	cerr := consume(pr)
	pr.CloseWithError(errors.New("consumer finished"))
	if err := <-perr; err != nil && !errors.Is(err, io.ErrClosedPipe) && err.Error() != "consumer finished" {
		return err
	}
	return cerr
}

// docker runs the docker CLI against the installer's Docker socket.
func (in *Installer) docker(ctx context.Context, bin string, stdin io.Reader, timeout time.Duration, args ...string) ([]byte, error) {
	full := append([]string{"-H", "unix://" + in.dockerSocket}, args...)
	return in.runner.Run(ctx, Cmd{Path: bin, Args: full, Stdin: stdin, Timeout: timeout})
}

// dockerAnswers reports whether dockerd answers on its socket.
func (in *Installer) dockerAnswers(ctx context.Context, bin string) bool {
	if !socketExists(in.dockerSocket) {
		return false
	}
	_, err := in.docker(ctx, bin, nil, 20*time.Second, "version", "--format", "{{.Server.Version}}")
	return err == nil
}

// dockerImageID returns Docker's image ID for ref (its config digest).
func (in *Installer) dockerImageID(ctx context.Context, bin, ref string) (string, error) {
	_, _, tag := imageRefNames(ref)
	if tag == "" {
		tag = ref
	}
	out, err := in.docker(ctx, bin, nil, 20*time.Second, "image", "inspect", "--format", "{{.Id}}", tag)
	return strings.TrimSpace(string(out)), err
}

// dockerLoad streams the image archive into `docker load`.
func (in *Installer) dockerLoad(ctx context.Context, bin string, src *Source, platform string, im *manifest.Image) error {
	prog := in.byteProgress("docker load "+im.Ref, archiveSize(src.Index, *im))
	err := in.streamInto(ctx, func(w io.Writer) error {
		return writeImageArchive(w, src.Index, *im, src.bundle, platform, prog)
	}, func(r io.Reader) error {
		_, err := in.docker(ctx, bin, r, 30*time.Minute, "load")
		return err
	})
	if err != nil {
		return fmt.Errorf("docker load %s: %w", im.Ref, err)
	}
	return nil
}

// configDigest returns the config digest of the image's manifest for
// platform (Docker's image ID), or "" when the bundle holds none.
func configDigest(ix *manifest.Index, blobs blobReader, im manifest.Image, platform string) (manifest.Digest, error) {
	m, err := platformManifest(ix, im, blobs, platform)
	if err != nil || m == nil {
		return "", err
	}
	return manifest.Digest(m.Config.Digest), nil
}

// ImportResult is what `images import --staged` did with one archive.
type ImportResult struct {
	Ref        string   `json:"ref"`
	File       string   `json:"file"`
	Namespaces []string `json:"namespaces,omitempty"`
	Pinned     bool     `json:"pinned"`
	Docker     string   `json:"docker,omitempty"` // "loaded", or why not
	Error      string   `json:"error,omitempty"`
}

// ImportReport is the result of ImportStaged.
type ImportReport struct {
	Images []ImportResult `json:"images"`
	// Done is set when every archive was imported and the staging directory removed.
	Done bool `json:"done"`
}

// ImportStaged imports the archives an earlier install staged (what
// satchel-images.service runs at first start): each into the namespaces
// recorded, with the installed ctr, pinned, and into Docker when it
// answers; each archive is removed once imported, and the staging
// directory when all are.
func (in *Installer) ImportStaged(ctx context.Context) (*ImportReport, error) {
	rep := &ImportReport{}
	dir, err := in.path(ImageStageDir)
	if err != nil {
		return nil, err
	}
	listPath, err := in.path(StagedList)
	if err != nil {
		return nil, err
	}
	b, ok, err := readSmall(listPath)
	if err != nil {
		return nil, err
	}
	if !ok {
		rep.Done = true
		return rep, nil
	}
	var list stagedList
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, manifest.HintError(fmt.Errorf("reading %s: %w", StagedList, err), "run `satchel-install apply` again to stage the images afresh")
	}
	ctrPath, err := in.path(config.BinDir + "/ctr")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(ctrPath); err != nil {
		if p, err2 := in.runner.LookPath("ctr"); err2 == nil {
			ctrPath = p
		}
	}
	if err := in.waitContainerd(ctx, ctrPath, 60*time.Second); err != nil {
		return nil, err
	}
	dockerBin := ""
	if p, err := in.path(config.BinDir + "/docker"); err == nil {
		if _, err := os.Stat(p); err == nil {
			dockerBin = p
		}
	}
	if dockerBin == "" {
		if p, err := in.runner.LookPath("docker"); err == nil {
			dockerBin = p
		}
	}
	var errs []error
	for _, si := range list.Images {
		r := ImportResult{Ref: si.Ref, File: si.File}
		tar := path.Join(dir, path.Base(si.File))
		if _, err := os.Stat(tar); errors.Is(err, fs.ErrNotExist) {
			r.Pinned = true // imported by an earlier run, which removed the archive
			rep.Images = append(rep.Images, r)
			continue
		}
		err := func() error {
			for _, ns := range si.Namespaces {
				if _, err := in.ctr(ctx, ctrPath, ns, nil, "images", "import", tar); err != nil {
					return fmt.Errorf("importing %s into namespace %s: %w", si.Ref, ns, err)
				}
				if _, err := in.ctr(ctx, ctrPath, ns, nil, "images", "label", si.Ref, PinnedLabel); err != nil {
					return fmt.Errorf("pinning %s in namespace %s: %w", si.Ref, ns, err)
				}
				r.Namespaces = append(r.Namespaces, ns)
			}
			r.Pinned = true
			switch {
			case !si.Docker:
			case dockerBin == "" || !in.dockerAnswers(ctx, dockerBin):
				r.Docker = "skipped: Docker is not running (load it later with `docker load -i` from a fresh `satchel-install apply`)"
			default:
				if _, err := in.docker(ctx, dockerBin, nil, 30*time.Minute, "load", "-i", tar); err != nil {
					return fmt.Errorf("docker load %s: %w", si.Ref, err)
				}
				r.Docker = "loaded"
			}
			return removeFile(tar)
		}()
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, err)
		}
		rep.Images = append(rep.Images, r)
	}
	if len(errs) > 0 {
		return rep, manifest.HintError(errors.Join(errs...),
			"check that containerd runs (systemctl status containerd), then run `satchel-install images import --staged` again; archives not imported are kept in "+ImageStageDir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return rep, err
	}
	syncDir(path.Dir(dir))
	rep.Done = true
	return rep, nil
}

// waitContainerd waits until `ctr version` answers on the socket. A
// missing socket fails at once: satchel-images.service starts after
// containerd.service, which is up once its socket is.
func (in *Installer) waitContainerd(ctx context.Context, ctrPath string, limit time.Duration) error {
	if !in.execPrefix && !socketExists(in.containerdSocket) {
		return manifest.HintError(fmt.Errorf("containerd is not running: no socket at %s", in.containerdSocket),
			"start containerd (systemctl start containerd), or pass --containerd-socket where it listens, and run the command again")
	}
	deadline := time.Now().Add(limit)
	for {
		_, err := in.runner.Run(ctx, Cmd{Path: ctrPath, Args: []string{"-a", in.containerdSocket, "version"}, Timeout: 10 * time.Second})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || notStarted(err) {
			return manifest.HintError(fmt.Errorf("containerd does not answer on %s: %w", in.containerdSocket, err),
				"start containerd (systemctl start containerd) and run the command again")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

package bundler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
)

// completionTimeout bounds one run of a tool for its completion (a variable
// for tests).
var completionTimeout = 30 * time.Second

// Limits on running a component's tool for its completion.
const (
	maxCompletionSize = 1 << 20 // cobra's bash completion for nerdctl is ~12 KB
	// nobody: the tool runs unprivileged when the builder runs as root.
	nobodyID = 65534
)

// BuilderPlatform is the platform whose binaries this builder runs natively
// (e.g. "linux/amd64"): bash completions are generated with its binaries
// first.
func BuilderPlatform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// completionNoteID names the index note that says a completion is missing.
func completionNoteID(tool string) string { return path.Base(tool) + "-bash-completion-skipped" }

// addCompletions generates the bash completions of a component's tools
// (component.CompletionsOf) and adds each as a file to every artifact of comp
// that carries the tool: the completion of one version is the same text on
// every platform, so it is generated once and every platform gets the same
// blob. The tool is run from its unpacked, digest-checked file for a
// platform this builder can execute: the builder's own first, then the
// others in bundle order (they run where qemu-user is registered with
// binfmt_misc). If none runs, the completion is skipped: the returned
// warning says why, and the returned note (for the index) that it is
// missing. Only a failure of the builder itself (blob store, context) is an
// error.
func addCompletions(ctx context.Context, comp *manifest.Component, store *pack.BlobStore, addBlob func(manifest.Blob)) (warnings []string, notes []manifest.Note, err error) {
	for _, c := range component.CompletionsOf(comp.Name) {
		var carriers []int // artifacts carrying the tool, the builder's platform first
		for i, a := range comp.Artifacts {
			if slices.ContainsFunc(a.Files, func(f manifest.File) bool { return f.Path == c.Tool }) {
				carriers = append(carriers, i)
			}
		}
		if len(carriers) == 0 {
			continue
		}
		slices.SortStableFunc(carriers, func(x, y int) int {
			return boolRank(comp.Artifacts[x].Platform == BuilderPlatform()) - boolRank(comp.Artifacts[y].Platform == BuilderPlatform())
		})
		var text []byte
		var reasons []string
		for _, i := range carriers {
			a := comp.Artifacts[i]
			f := a.Files[slices.IndexFunc(a.Files, func(f manifest.File) bool { return f.Path == c.Tool })]
			out, err := runCompletion(ctx, store, f, c)
			if err == nil {
				text = out
				break
			}
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			var se storeError
			if errors.As(err, &se) {
				return nil, nil, err
			}
			reasons = append(reasons, a.Platform+": "+err.Error())
		}
		if text == nil {
			var platforms []string
			for _, i := range carriers {
				platforms = append(platforms, comp.Artifacts[i].Platform)
			}
			warnings = append(warnings, fmt.Sprintf("%s %s: no bash completion for %s: no %s binary ran on this builder (%s): %s",
				comp.Name, comp.Version, path.Base(c.Tool), path.Base(c.Tool), BuilderPlatform(), strings.Join(reasons, "; ")))
			// The note is signed: only what does not vary between runs.
			notes = append(notes, manifest.Note{ID: completionNoteID(c.Tool), Component: comp.Name, Severity: "info",
				Text: fmt.Sprintf("No bash completion for %s: it is generated when the bundle is built, by running %s %s on the builder, and no %s binary (%s) ran on the builder (%s). `%s %s` prints it on a host where %s runs.",
					path.Base(c.Tool), path.Base(c.Tool), strings.Join(c.Args, " "), path.Base(c.Tool), strings.Join(platforms, ", "), BuilderPlatform(),
					path.Base(c.Tool), strings.Join(c.Args, " "), path.Base(c.Tool))})
			continue
		}
		digest, size, blob, err := store.PutFile(bytes.NewReader(text))
		if err != nil {
			return nil, nil, err
		}
		addBlob(blob)
		file := manifest.File{Path: c.Path, Mode: 0o644, Digest: digest, Size: size, Blob: blob.Digest}
		for _, i := range carriers {
			a := &comp.Artifacts[i]
			a.Files = append(a.Files, file)
			slices.SortStableFunc(a.Files, func(x, y manifest.File) int { return strings.Compare(x.Path, y.Path) })
			if dup := duplicatePath(a.Files); dup != "" {
				return nil, nil, fmt.Errorf("%s %s (%s): the upstream archive already installs %s, where the generated bash completion goes",
					comp.Name, comp.Version, a.Platform, dup)
			}
		}
	}
	return warnings, notes, nil
}

func boolRank(first bool) int {
	if first {
		return 0
	}
	return 1
}

// storeError marks a failure to read the builder's own blob store (as
// opposed to the tool failing to run), which fails the build.
type storeError struct{ error }

func (e storeError) Unwrap() error { return e.error }

// runCompletion writes the tool's verified content to a fresh directory and
// runs it with c.Args: no environment but PATH=/usr/bin:/bin and HOME and
// the XDG directories in an empty temporary directory, an empty working
// directory, stdin /dev/null, its own process group (killed on timeout or
// when the builder dies), as nobody when the builder is root. It returns
// what the tool printed on stdout.
func runCompletion(ctx context.Context, store *pack.BlobStore, tool manifest.File, c component.Completion) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "satchel-completion-")
	if err != nil {
		return nil, storeError{err}
	}
	defer os.RemoveAll(tmp)
	asNobody := os.Geteuid() == 0
	bin, home, work := filepath.Join(tmp, "bin"), filepath.Join(tmp, "home"), filepath.Join(tmp, "work")
	for _, d := range []string{bin, home, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, storeError{err}
		}
		if asNobody && d != bin {
			if err := os.Chown(d, nobodyID, nobodyID); err != nil {
				return nil, storeError{err}
			}
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return nil, storeError{err}
	}
	exe := filepath.Join(bin, path.Base(c.Tool))
	if err := extract(store, tool, exe); err != nil {
		return nil, storeError{err}
	}

	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, c.Args...)
	cmd.Dir = work
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state"),
		"XDG_RUNTIME_DIR=" + home,
	}
	if c.ConfigEnv != "" {
		cmd.Env = append(cmd.Env, c.ConfigEnv+"="+filepath.Join(home, "no-such-config"))
	}
	var stdout, stderr cappedBuffer
	stdout.max, stderr.max = maxCompletionSize, 4<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr // Stdin nil: /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if asNobody {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobodyID, Gid: nobodyID, Groups: []uint32{}}
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return nil, fmt.Errorf("%s %s did not finish within %s", path.Base(c.Tool), strings.Join(c.Args, " "), completionTimeout)
	case errors.Is(err, syscall.ENOEXEC):
		return nil, errors.New("not executable on this builder (exec format error)")
	case errors.Is(err, syscall.ENOENT):
		return nil, errors.New("not executable on this builder (its interpreter or loader is missing)")
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			msg = ": " + strings.ReplaceAll(msg, "\n", " | ")
		}
		return nil, fmt.Errorf("%s %s: %v%s", path.Base(c.Tool), strings.Join(c.Args, " "), err, msg)
	case stdout.over:
		return nil, fmt.Errorf("%s %s printed more than %d bytes", path.Base(c.Tool), strings.Join(c.Args, " "), maxCompletionSize)
	case stdout.Len() == 0:
		return nil, fmt.Errorf("%s %s printed nothing", path.Base(c.Tool), strings.Join(c.Args, " "))
	case !utf8.Valid(stdout.Bytes()) || bytes.IndexByte(stdout.Bytes(), 0) >= 0:
		return nil, fmt.Errorf("%s %s printed something that is not a shell script (not UTF-8 text)", path.Base(c.Tool), strings.Join(c.Args, " "))
	}
	return bytes.Clone(stdout.Bytes()), nil
}

// extract writes a stored file's content to path, mode 0755, only once it
// has been read to the end and found to match its recorded digest.
func extract(store *pack.BlobStore, f manifest.File, dst string) (err error) {
	rc, err := store.OpenFile(f)
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, 0o755)
}

// cappedBuffer keeps the first max bytes written and notes whether there
// were more; it never fails a write, so the tool is not killed by EPIPE.
type cappedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

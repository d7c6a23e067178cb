package mirrorgen

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/satchel-dev/satchel/manifest"
)

// ImageOption configures PushImage.
type ImageOption func(*imageOptions)

type imageOptions struct {
	entrypoint, cmd, env []string
	labels               map[string]string
	perPlatform          map[string]map[string][]byte
}

// WithEntrypoint sets the image's entrypoint.
func WithEntrypoint(args ...string) ImageOption {
	return func(o *imageOptions) { o.entrypoint = args }
}

// WithCmd sets the image's default command.
func WithCmd(args ...string) ImageOption { return func(o *imageOptions) { o.cmd = args } }

// WithEnv sets the image's environment ("KEY=value").
func WithEnv(env ...string) ImageOption { return func(o *imageOptions) { o.env = env } }

// WithLabels sets the image's labels.
func WithLabels(l map[string]string) ImageOption { return func(o *imageOptions) { o.labels = l } }

// WithPlatformFiles replaces the files for one platform (a program built
// per architecture, say).
func WithPlatformFiles(platform string, files map[string][]byte) ImageOption {
	return func(o *imageOptions) {
		if o.perPlatform == nil {
			o.perPlatform = map[string]map[string][]byte{}
		}
		o.perPlatform[platform] = files
	}
}

// PushImage builds a one-layer OCI image from files (absolute or relative
// paths → contents) for each platform and pushes it to registryHost under
// ref's repository and tag: docker.io/library/nginx:1.27.4 goes to
// <registryHost>/library/nginx:1.27.4, where a registry mirror
// (docker.io=<registryHost>) finds it. Several platforms make an OCI image
// index, one platform a plain manifest. Files that start with "#!" or an ELF
// header are made executable. Plain HTTP is used for the registry (loopback
// test registries). The result is deterministic: the same input gives the
// same digest.
func PushImage(ctx context.Context, registryHost, ref string, platforms []string, files map[string][]byte, opts ...ImageOption) (manifest.Digest, error) {
	var o imageOptions
	for _, opt := range opts {
		opt(&o)
	}
	src, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	tag, ok := src.(name.Tag)
	if !ok {
		return "", manifest.Hintf("give a tag, e.g. docker.io/library/nginx:1.27.4", "pushing %s: a digest reference cannot be pushed to", ref)
	}
	dst, err := name.NewTag(registryHost+"/"+tag.RepositoryStr()+":"+tag.TagStr(), name.Insecure)
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	if len(platforms) == 0 {
		return "", fmt.Errorf("pushing %s: no platforms", ref)
	}
	imgs := make([]v1.Image, len(platforms))
	for i, pl := range platforms {
		fs := files
		if f, ok := o.perPlatform[pl]; ok {
			fs = f
		}
		if imgs[i], err = buildImage(pl, fs, &o); err != nil {
			return "", fmt.Errorf("pushing %s: %s: %w", ref, pl, err)
		}
	}
	var d v1.Hash
	if len(imgs) == 1 {
		if err := remote.Write(dst, imgs[0], remote.WithContext(ctx)); err != nil {
			return "", fmt.Errorf("pushing %s to %s: %w", ref, dst, err)
		}
		d, err = imgs[0].Digest()
	} else {
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for i, pl := range platforms {
			p, err := v1.ParsePlatform(pl)
			if err != nil {
				return "", err
			}
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: imgs[i], Descriptor: v1.Descriptor{Platform: p}})
		}
		if err := remote.WriteIndex(dst, idx, remote.WithContext(ctx)); err != nil {
			return "", fmt.Errorf("pushing %s to %s: %w", ref, dst, err)
		}
		d, err = idx.Digest()
	}
	if err != nil {
		return "", err
	}
	return manifest.Digest(d.String()), nil
}

func buildImage(platform string, files map[string][]byte, o *imageOptions) (v1.Image, error) {
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	layerTar, err := layerTar(files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.Env, cf.Config.Labels = o.entrypoint, o.cmd, o.env, o.labels
	return mutate.ConfigFile(img, cf)
}

// layerTar packs files with their parent directories, sorted, at Epoch.
func layerTar(files map[string][]byte) ([]byte, error) {
	names := make([]string, 0, len(files))
	dirs := map[string]bool{}
	for n := range files {
		clean := strings.TrimPrefix(path.Clean("/"+n), "/")
		if clean == "" {
			return nil, fmt.Errorf("image file name %q", n)
		}
		names = append(names, clean)
		for d := path.Dir(clean); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	content := map[string][]byte{}
	for n, b := range files {
		content[strings.TrimPrefix(path.Clean("/"+n), "/")] = b
	}
	for d := range dirs {
		names = append(names, d+"/")
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		h := &tar.Header{Name: n, ModTime: Epoch, Format: tar.FormatPAX}
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			b := content[n]
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(b))
			if bytes.HasPrefix(b, []byte("#!")) || bytes.HasPrefix(b, []byte("\x7fELF")) {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if !strings.HasSuffix(n, "/") {
			if _, err := tw.Write(content[n]); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NginxStandIn is the content of a stand-in nginx image: a page and a label.
func NginxStandIn(tag string) map[string][]byte {
	label := fmt.Sprintf("satchel demo stand-in for nginx %s, not the real image\n", tag)
	return map[string][]byte{
		"usr/share/nginx/html/index.html": []byte("<!DOCTYPE html>\n<title>satchel demo</title>\n<p>" + strings.TrimSpace(label) + "</p>\n"),
		"SATCHEL-STAND-IN":                []byte(label),
	}
}

// PauseStandIn is the content of a stand-in pause image. Its /pause is a
// script, not the real pause program: containers cannot run on it.
func PauseStandIn(tag string) map[string][]byte {
	label := fmt.Sprintf("satchel demo stand-in for pause %s, not the real image", tag)
	return map[string][]byte{
		"pause":            []byte("#!/bin/sh\n# " + label + "\nexec sleep 2147483647\n"),
		"SATCHEL-STAND-IN": []byte(label + "\n"),
	}
}

// PushDemoImages pushes stand-ins for DemoSpec's images to registryHost and
// returns their digests by reference.
func PushDemoImages(ctx context.Context, registryHost string, platforms []string) (map[string]manifest.Digest, error) {
	out := map[string]manifest.Digest{}
	for _, im := range DemoSpec().Spec.Images {
		r, err := name.NewTag(im.Ref)
		if err != nil {
			return nil, err
		}
		files, opts := NginxStandIn(r.TagStr()), []ImageOption{WithCmd("nginx", "-g", "daemon off;")}
		if im.Role == "sandbox" {
			files, opts = PauseStandIn(r.TagStr()), []ImageOption{WithEntrypoint("/pause")}
		}
		d, err := PushImage(ctx, registryHost, im.Ref, platforms, files, opts...)
		if err != nil {
			return nil, err
		}
		out[im.Ref] = d
	}
	return out, nil
}

// RegistryMirrorFlags returns the --registry-mirror HOST=TO values that send
// DemoSpec's registries to registryHost.
func RegistryMirrorFlags(registryHost string) []string {
	var out []string
	seen := map[string]bool{}
	for _, im := range DemoSpec().Spec.Images {
		// The host as the ref spells it: ggcr would turn docker.io into index.docker.io.
		if h, _, _ := strings.Cut(im.Ref, "/"); !seen[h] {
			seen[h] = true
			out = append(out, h+"="+registryHost)
		}
	}
	sort.Strings(out)
	return out
}

package profiles

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/internal/fault"
	"github.com/satchel-dev/satchel/internal/yamltest"
	"github.com/satchel-dev/satchel/manifest"
)

// Digests from /work/shared/UPSTREAM.md, "Pinned digests" (copied, not computed).
const (
	upContainerdAmd64       = "sha256:e1c64c5fd60ecd555e750744eaef150b6f78d7f750da5c08c52825aa6b791737"
	upContainerdArm64       = "sha256:0fde98b24bb55363a54150732e0ac99a43bccf2a9711371bd5470f32790316f2"
	upContainerdStaticAmd64 = "sha256:b8785bc2ca5417fe62fcd5efc687e630cce11ca57e50edd6b9baca10d41b4c1c"
	upContainerdStaticArm64 = "sha256:3529558b49e87a220205b632fea1c4b2cdc60f1d93eab3d4c307f66b91df189d"
	upRunc125Amd64          = "sha256:fbd851fce6a8e0d67a9d184ea544c2abf67c9fd29b80fcc1adf67dfe9eb036a1"
	upRunc125Arm64          = "sha256:bfc6575f4c601740539553b639ad6f635c23f76695ed484171bd864df6a23f76"
	upRunc126Amd64          = "sha256:0774f49d1b1eebb5849e644db5e4dc6f2b06cee05f13b3d17d5d6ba62d6f2ebc"
	upRunc126Arm64          = "sha256:12c612e2ebe6ca198de676ce75ed557e79fe6109032209bb8e25166c967fe170"
	upCrictlAmd64           = "sha256:f050b71d3a73a91a4e0990b90143ed04dcd100cc66f953736fcb6a2730e283c4"
	upCrictlArm64           = "sha256:f2f4e20658b72d00897f41e4b57093c8080e2d800ee894a5f4351f31d1833e30"
	upNerdctlAmd64          = "sha256:2f9d22179868db4f0a1daf2fd65f58a24f8a78efd2d9b17659f56bcdce85efd0"
	upNerdctlArm64          = "sha256:1f394e3aabc2b202ad17a5ece0495ca554ae3ca346a5dd0aa8344a891734763d"
	upRunscAmd64            = "sha512:21b623afed5dfa19c4f8d78dbd28f131d406f403dbc8394c390dcd86803fec6157be35b3588bc2b210a370947363e4723ef7030d26c2fca08bafa278017b0659"
	upRunscArm64            = "sha512:d78302d8491b7da915c0eeb23c1558e05760ed1388450a357f953620bd369ef2554fdc6d90b235de16f173df7ea9a9160d453b71801528a495ed98d34d94a7dd"
	upShimAmd64             = "sha512:94ea230558552362fc4018b5f2e9f3c8af25963a790edc2ba3a454d901fcadaac3c198a0a951fd84c2d7a9c19f2e399f5fc5c22b50d4cb1b76a68a7e80b8c4ae"
	upShimArm64             = "sha512:083aee56d7c0b6b0a5f609507e2a5f73daa6e01be72cc2463b905b470f9e8ef57eb0bc15f92b075fb863db54b6b51b569bafa0009eb0fac383f00c626eb33b1f"
	upKata313Amd64          = "sha256:266c906222c85b67867dea3c9bdb58c6da0b656be3a29f9e0bed227c939f3f26"
	upKata320Amd64          = "sha256:21bb8484a060450d6522f29bed7d88d773c28520774eaa2c522b6f47fd12c4a1"
	upKata320Arm64          = "sha256:40627b7ac677ce0f5ffc73b32c1a8bc553e75b746b6cdf8f14642ac27dac3148"
	upPause310              = "sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a"
	// CNI plugins 1.9.1: kubespray checksums.yml @46dbdd3 L511/L505, the
	// same in nerdctl's Dockerfile.d/SHA256SUMS.d/cni-plugins-v1.9.1.
	upCNI191Amd64 = "sha256:b98f74a0f8522f0a83867178729c1aa70f2158f90c45a2ca8fa791db1c76b303"
	upCNI191Arm64 = "sha256:56171987d3947707c3563db2f4001bccaf50fd63468611b9f3cbecb1375ee7ec"
)

func spec(profile string, platforms []string, comps ...manifest.ComponentSpec) *manifest.Spec {
	return &manifest.Spec{
		APIVersion: manifest.APIVersion, Kind: "Bundle",
		Metadata: manifest.Metadata{Name: "test", Version: "1", Sequence: 1},
		Spec:     manifest.BundleSpec{Profile: profile, Platforms: platforms, Components: comps},
	}
}

func mustResolve(t *testing.T, s *manifest.Spec) *Resolved {
	t.Helper()
	r, err := Resolve(s)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return r
}

func artifact(t *testing.T, r *Resolved, name, platform string) ResolvedArtifact {
	t.Helper()
	for _, c := range r.Components {
		for _, a := range c.Artifacts {
			if a.Name == name && a.Platform == platform {
				return a
			}
		}
	}
	t.Fatalf("no artifact %s for %s", name, platform)
	return ResolvedArtifact{}
}

func TestBuiltinProfilesLoad(t *testing.T) {
	if got, want := Names(), []string{"kylin-v10", "kylin-v10-2025", "modern"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, p := range List() {
		if err := p.validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if p.Description == "" {
			t.Errorf("%s: no description", p.Name)
		}
		for _, d := range component.All() {
			if _, ok := p.Component(d.Name); !ok && !d.Optional {
				c := d.Name
				t.Errorf("%s: has no %s", p.Name, c)
			}
		}
	}
	// Get hands out copies: changing one must not change the next.
	p, _ := Get("kylin-v10")
	p.Components[0].Version = "9.9.9"
	p.Platforms[0] = "linux/s390x"
	q, _ := Get("kylin-v10")
	if q.Components[0].Version == "9.9.9" || q.Platforms[0] == "linux/s390x" {
		t.Fatal("Get returned shared state")
	}
}

// Every profile resolves for all its platforms together and for each alone,
// and every artifact of its plan is either pinned or explicitly marked as
// left for lock (a pin entry without digest): nothing is unpinned by accident.
func TestEveryProfileResolvesEveryPlatform(t *testing.T) {
	for _, p := range List() {
		sets := [][]string{nil} // nil: the profile's own platforms
		for _, pl := range p.Platforms {
			sets = append(sets, []string{pl})
		}
		for _, platforms := range sets {
			s, err := InitSpec(p.Name)
			if err != nil {
				t.Fatal(err)
			}
			if platforms != nil {
				s.Spec.Platforms = platforms
			}
			r := mustResolve(t, s)
			want := s.Spec.Platforms
			if len(r.Components) != len(p.Components) {
				t.Errorf("%s %v: %d components, want %d", p.Name, platforms, len(r.Components), len(p.Components))
			}
			for _, c := range r.Components {
				for _, pl := range want {
					n := 0
					for _, a := range c.Artifacts {
						if a.Platform != pl {
							continue
						}
						n++
						if a.Archive == "" || len(a.Files) == 0 || !strings.HasPrefix(a.URL, "https://") {
							t.Errorf("%s %s %s: incomplete artifact %+v", p.Name, c.Name, pl, a)
						}
						if a.Digest == "" {
							marked := slices.ContainsFunc(p.Pins, func(pin Pin) bool { return pin.URL == a.URL && pin.Digest == "" })
							if !marked {
								t.Errorf("%s: %s is neither pinned nor marked for lock", p.Name, a.URL)
							}
						} else if a.DigestSource != manifest.DigestFromProfile {
							t.Errorf("%s: %s digest source %q", p.Name, a.URL, a.DigestSource)
						}
					}
					if n == 0 {
						t.Errorf("%s %s: no artifact for %s", p.Name, c.Name, pl)
					}
				}
			}
		}
	}
}

// Every pin URL is one the catalog produces for some component version:
// a typo in a pinned URL would otherwise never match anything.
func TestPinURLsComeFromTheCatalog(t *testing.T) {
	verRE := regexp.MustCompile(`[0-9]{8}\.[0-9]+|[0-9]+\.[0-9]+\.[0-9]+`)
	for _, p := range List() {
		var urls []string
		for _, pin := range p.Pins {
			urls = append(urls, pin.URL)
		}
		for _, c := range p.Components {
			for _, s := range c.Sources {
				urls = append(urls, s.URL)
			}
		}
		produced := map[string]bool{}
		for _, u := range urls {
			for _, v := range verRE.FindAllString(u, -1) {
				for _, comp := range manifest.KnownComponents {
					for _, variant := range append(slices.Clone(mustDescriptor(comp).Variants), "") {
						for _, pl := range manifest.KnownPlatforms {
							nu, err := catalogURLs(comp, v, variant, pl)
							if err != nil {
								continue
							}
							for _, x := range nu {
								produced[x.URL] = true
							}
						}
					}
				}
			}
		}
		for _, u := range urls {
			if !produced[u] {
				t.Errorf("%s: pinned URL %s is not a catalog URL", p.Name, u)
			}
		}
	}
}

// kylin-v10-2025 is the seed's by-hand set, frozen.
func TestKylinV102025URLsAndDigests(t *testing.T) {
	r := mustResolve(t, spec("kylin-v10-2025", nil))
	gh := "https://github.com/"
	tests := []struct {
		name, platform, url, digest, checksumURL, format, archive string
	}{
		{"containerd", "linux/amd64", gh + "containerd/containerd/releases/download/v2.0.4/containerd-static-2.0.4-linux-amd64.tar.gz", upContainerdStaticAmd64,
			gh + "containerd/containerd/releases/download/v2.0.4/containerd-static-2.0.4-linux-amd64.tar.gz.sha256sum", "sha256sum", "tar.gz"},
		{"containerd", "linux/arm64", gh + "containerd/containerd/releases/download/v2.0.4/containerd-static-2.0.4-linux-arm64.tar.gz", upContainerdStaticArm64,
			gh + "containerd/containerd/releases/download/v2.0.4/containerd-static-2.0.4-linux-arm64.tar.gz.sha256sum", "sha256sum", "tar.gz"},
		{"runc", "linux/amd64", gh + "opencontainers/runc/releases/download/v1.2.6/runc.amd64", upRunc126Amd64,
			gh + "opencontainers/runc/releases/download/v1.2.6/runc.sha256sum", "pgp-sha256sum", "binary"},
		{"runc", "linux/arm64", gh + "opencontainers/runc/releases/download/v1.2.6/runc.arm64", upRunc126Arm64,
			gh + "opencontainers/runc/releases/download/v1.2.6/runc.sha256sum", "pgp-sha256sum", "binary"},
		{"docker", "linux/amd64", "https://download.docker.com/linux/static/stable/x86_64/docker-27.5.1.tgz", "", "", "", "tgz"},
		{"docker", "linux/arm64", "https://download.docker.com/linux/static/stable/aarch64/docker-27.5.1.tgz", "", "", "", "tgz"},
		{"runsc", "linux/amd64", "https://storage.googleapis.com/gvisor/releases/release/20250331.0/x86_64/runsc", upRunscAmd64,
			"https://storage.googleapis.com/gvisor/releases/release/20250331.0/x86_64/runsc.sha512", "sha512", "binary"},
		{"runsc", "linux/arm64", "https://storage.googleapis.com/gvisor/releases/release/20250331.0/aarch64/runsc", upRunscArm64,
			"https://storage.googleapis.com/gvisor/releases/release/20250331.0/aarch64/runsc.sha512", "sha512", "binary"},
		{"containerd-shim-runsc-v1", "linux/amd64", "https://storage.googleapis.com/gvisor/releases/release/20250331.0/x86_64/containerd-shim-runsc-v1", upShimAmd64,
			"https://storage.googleapis.com/gvisor/releases/release/20250331.0/x86_64/containerd-shim-runsc-v1.sha512", "sha512", "binary"},
		{"containerd-shim-runsc-v1", "linux/arm64", "https://storage.googleapis.com/gvisor/releases/release/20250331.0/aarch64/containerd-shim-runsc-v1", upShimArm64,
			"https://storage.googleapis.com/gvisor/releases/release/20250331.0/aarch64/containerd-shim-runsc-v1.sha512", "sha512", "binary"},
		{"kata", "linux/amd64", gh + "kata-containers/kata-containers/releases/download/3.1.3/kata-static-3.1.3-x86_64.tar.xz", upKata313Amd64, "", "", "tar.xz"},
		{"kata", "linux/arm64", gh + "kata-containers/kata-containers/releases/download/3.2.0/kata-static-3.2.0-arm64.tar.xz", upKata320Arm64, "", "", "tar.xz"},
		{"nerdctl", "linux/amd64", gh + "containerd/nerdctl/releases/download/v2.0.4/nerdctl-2.0.4-linux-amd64.tar.gz", upNerdctlAmd64,
			gh + "containerd/nerdctl/releases/download/v2.0.4/SHA256SUMS", "sha256sums", "tar.gz"},
		{"nerdctl", "linux/arm64", gh + "containerd/nerdctl/releases/download/v2.0.4/nerdctl-2.0.4-linux-arm64.tar.gz", upNerdctlArm64,
			gh + "containerd/nerdctl/releases/download/v2.0.4/SHA256SUMS", "sha256sums", "tar.gz"},
		{"crictl", "linux/amd64", gh + "kubernetes-sigs/cri-tools/releases/download/v1.32.0/crictl-v1.32.0-linux-amd64.tar.gz", upCrictlAmd64,
			gh + "kubernetes-sigs/cri-tools/releases/download/v1.32.0/crictl-v1.32.0-linux-amd64.tar.gz.sha256", "bare-sha256", "tar.gz"},
		{"crictl", "linux/arm64", gh + "kubernetes-sigs/cri-tools/releases/download/v1.32.0/crictl-v1.32.0-linux-arm64.tar.gz", upCrictlArm64,
			gh + "kubernetes-sigs/cri-tools/releases/download/v1.32.0/crictl-v1.32.0-linux-arm64.tar.gz.sha256", "bare-sha256", "tar.gz"},
		{"cni", "linux/amd64", gh + "containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz", upCNI191Amd64,
			gh + "containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz.sha256", "sha256sum", "tgz"},
		{"cni", "linux/arm64", gh + "containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-arm64-v1.9.1.tgz", upCNI191Arm64,
			gh + "containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-arm64-v1.9.1.tgz.sha256", "sha256sum", "tgz"},
	}
	n := 0
	for _, c := range r.Components {
		n += len(c.Artifacts)
	}
	if n != len(tests) {
		t.Errorf("%d artifacts, want %d", n, len(tests))
	}
	for _, tt := range tests {
		a := artifact(t, r, tt.name, tt.platform)
		if a.URL != tt.url {
			t.Errorf("%s %s: URL\n got %s\nwant %s", tt.name, tt.platform, a.URL, tt.url)
		}
		if string(a.Digest) != tt.digest {
			t.Errorf("%s %s: digest %s, want %s", tt.name, tt.platform, a.Digest, tt.digest)
		}
		if a.Checksum.URL != tt.checksumURL || a.Checksum.Format != tt.format {
			t.Errorf("%s %s: checksum %+v, want %s %s", tt.name, tt.platform, a.Checksum, tt.checksumURL, tt.format)
		}
		if a.Archive != tt.archive {
			t.Errorf("%s %s: archive %s, want %s", tt.name, tt.platform, a.Archive, tt.archive)
		}
	}
	c, _ := r.Component("containerd")
	if c.Variant != "static" || c.Version != "2.0.4" {
		t.Errorf("containerd %s %s, want 2.0.4 static", c.Version, c.Variant)
	}
	if r.MinKernel != "4.19" || !reflect.DeepEqual(r.Platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("minKernel %q platforms %v", r.MinKernel, r.Platforms)
	}
	wantImages := []manifest.ImageSpec{
		{Ref: "docker.io/library/nginx:1.27.4"},
		{Ref: "registry.k8s.io/pause:3.10", Digest: upPause310, Role: "sandbox"},
	}
	if !reflect.DeepEqual(r.Images, wantImages) {
		t.Errorf("images %+v, want %+v", r.Images, wantImages)
	}
	var ids []string
	for _, n := range r.Notes {
		ids = append(ids, n.ID)
	}
	for _, id := range []string{"kata-arm64-untested", NoteDockerKataNetwork, NoteDockerKataRuntimeType} {
		if !slices.Contains(ids, id) {
			t.Errorf("notes %v lack %s", ids, id)
		}
	}
	for _, id := range []string{NoteKataGlibc, NoteContainerdGlibc, NoteKataVirtiofsdKylinV10} {
		if slices.Contains(ids, id) {
			t.Errorf("notes %v have %s, which does not apply to kylin-v10's versions", ids, id)
		}
	}
}

// The pins kylin-v10-2025 carries beyond its default plan (for a spec that
// picks the dynamic containerd, runc 1.2.5 or kata 3.2.0) equal UPSTREAM.md too.
func TestKylinV102025ExtraPins(t *testing.T) {
	p, _ := Get("kylin-v10-2025")
	gh := "https://github.com/"
	for url, want := range map[string]string{
		gh + "containerd/containerd/releases/download/v2.0.4/containerd-2.0.4-linux-amd64.tar.gz":        upContainerdAmd64,
		gh + "containerd/containerd/releases/download/v2.0.4/containerd-2.0.4-linux-arm64.tar.gz":        upContainerdArm64,
		gh + "opencontainers/runc/releases/download/v1.2.5/runc.amd64":                                   upRunc125Amd64,
		gh + "opencontainers/runc/releases/download/v1.2.5/runc.arm64":                                   upRunc125Arm64,
		gh + "kata-containers/kata-containers/releases/download/3.2.0/kata-static-3.2.0-amd64.tar.xz":    upKata320Amd64,
		gh + "kata-containers/kata-containers/releases/download/3.2.0/kata-static-3.2.0-arm64.tar.xz":    upKata320Arm64,
		gh + "kata-containers/kata-containers/releases/download/3.1.3/kata-static-3.1.3-x86_64.tar.xz":   upKata313Amd64,
		gh + "containerd/containerd/releases/download/v2.0.4/containerd-static-2.0.4-linux-amd64.tar.gz": upContainerdStaticAmd64,
	} {
		got, ok := p.Pin(url)
		if !ok || string(got) != want {
			t.Errorf("pin %s = %q, want %s", url, got, want)
		}
	}
	// Each non-empty profile digest appears in UPSTREAM.md's table exactly.
	known := []string{upContainerdAmd64, upContainerdArm64, upContainerdStaticAmd64, upContainerdStaticArm64,
		upRunc125Amd64, upRunc125Arm64, upRunc126Amd64, upRunc126Arm64, upCrictlAmd64, upCrictlArm64,
		upNerdctlAmd64, upNerdctlArm64, upRunscAmd64, upRunscArm64, upShimAmd64, upShimArm64,
		upKata313Amd64, upKata320Amd64, upKata320Arm64, upCNI191Amd64, upCNI191Arm64}
	n := 0
	for _, pin := range p.Pins {
		if pin.Digest == "" {
			if !strings.Contains(pin.URL, "download.docker.com") {
				t.Errorf("unpinned %s: only Docker is left for lock", pin.URL)
			}
			continue
		}
		n++
		if !slices.Contains(known, string(pin.Digest)) {
			t.Errorf("pin %s %s is not from UPSTREAM.md", pin.URL, pin.Digest)
		}
	}
	if n != len(known) {
		t.Errorf("%d pinned digests, want all %d of UPSTREAM.md's", n, len(known))
	}
}

func TestModernProfile(t *testing.T) {
	r := mustResolve(t, spec("modern", nil))
	gh := "https://github.com/"
	for _, tt := range []struct{ name, platform, url string }{
		{"containerd", "linux/amd64", gh + "containerd/containerd/releases/download/v2.3.4/containerd-static-2.3.4-linux-amd64.tar.gz"},
		{"kata", "linux/arm64", gh + "kata-containers/kata-containers/releases/download/3.32.0/kata-static-3.32.0-arm64.tar.zst"},
		{"runsc", "linux/arm64", "https://storage.googleapis.com/gvisor/releases/release/20260817.0/aarch64/runsc"},
		{"docker", "linux/amd64", "https://download.docker.com/linux/static/stable/x86_64/docker-29.7.2.tgz"},
	} {
		a := artifact(t, r, tt.name, tt.platform)
		if a.URL != tt.url {
			t.Errorf("%s %s: %s, want %s", tt.name, tt.platform, a.URL, tt.url)
		}
		if tt.name == "kata" && a.Archive != component.ArchiveTarZst {
			t.Errorf("kata 3.32.0 archive %s, want tar.zst", a.Archive)
		}
		if tt.name != "docker" && a.DigestSource != manifest.DigestFromProfile {
			t.Errorf("%s %s not pinned", tt.name, tt.platform)
		}
	}
	var ids []string
	for _, n := range r.Notes {
		ids = append(ids, n.ID)
	}
	if !slices.Contains(ids, NoteKataGlibc) || slices.Contains(ids, NoteDockerKataNetwork) || slices.Contains(ids, NoteContainerdGlibc) {
		t.Errorf("modern notes %v: want kata-glibc-2.34, no docker-kata-network, no containerd-glibc-2.35", ids)
	}
}

func TestCatalogURLs(t *testing.T) {
	gh := "https://github.com/"
	kata := gh + "kata-containers/kata-containers/releases/download/"
	tests := []struct {
		component, version, variant, platform, want string
	}{
		{"kata", "3.1.3", "", "linux/amd64", kata + "3.1.3/kata-static-3.1.3-x86_64.tar.xz"},
		{"kata", "2.5.2", "", "linux/amd64", kata + "2.5.2/kata-static-2.5.2-x86_64.tar.xz"},
		{"kata", "3.2.0", "", "linux/amd64", kata + "3.2.0/kata-static-3.2.0-amd64.tar.xz"},
		{"kata", "3.20.0", "", "linux/arm64", kata + "3.20.0/kata-static-3.20.0-arm64.tar.xz"},
		{"kata", "3.21.0", "", "linux/arm64", kata + "3.21.0/kata-static-3.21.0-arm64.tar.zst"},
		{"containerd", "1.6.38", "dynamic", "linux/arm64", gh + "containerd/containerd/releases/download/v1.6.38/containerd-1.6.38-linux-arm64.tar.gz"},
		{"containerd", "1.7.0", "static", "linux/amd64", gh + "containerd/containerd/releases/download/v1.7.0/containerd-static-1.7.0-linux-amd64.tar.gz"},
		{"docker", "27.5.1", "", "linux/arm64", "https://download.docker.com/linux/static/stable/aarch64/docker-27.5.1.tgz"},
		{"gvisor", "20250331.0", "", "linux/arm64", "https://storage.googleapis.com/gvisor/releases/release/20250331.0/aarch64/runsc"},
		{"crictl", "1.32.0", "", "linux/arm64", gh + "kubernetes-sigs/cri-tools/releases/download/v1.32.0/crictl-v1.32.0-linux-arm64.tar.gz"},
		{"runc", "1.2.0-rc.1", "", "linux/amd64", gh + "opencontainers/runc/releases/download/v1.2.0-rc.1/runc.amd64"},
	}
	for _, tt := range tests {
		got, err := catalogURLs(tt.component, tt.version, tt.variant, tt.platform)
		if err != nil {
			t.Errorf("%s %s %s: %v", tt.component, tt.version, tt.platform, err)
			continue
		}
		if got[0].URL != tt.want {
			t.Errorf("%s %s %s:\n got %s\nwant %s", tt.component, tt.version, tt.platform, got[0].URL, tt.want)
		}
	}
	// Default variant: static where it exists.
	for v, want := range map[string]string{"1.6.38": "dynamic", "1.7.0": "static", "2.3.4": "static"} {
		if got := mustDescriptor("containerd").DefaultVariant(mustVersion(v)); got != want {
			t.Errorf("default variant of containerd %s = %s, want %s", v, got, want)
		}
	}
}

func TestOverrides(t *testing.T) {
	gh := "https://github.com/"
	amd := []string{"linux/amd64"}

	t.Run("version to another pinned release keeps the pin", func(t *testing.T) {
		r := mustResolve(t, spec("kylin-v10-2025", nil, manifest.ComponentSpec{Name: "runc", Version: "1.2.5"}))
		a := artifact(t, r, "runc", "linux/arm64")
		if a.URL != gh+"opencontainers/runc/releases/download/v1.2.5/runc.arm64" || a.Digest != upRunc125Arm64 || a.DigestSource != manifest.DigestFromProfile {
			t.Errorf("%+v", a)
		}
	})
	t.Run("version to an unpinned release leaves the digest to lock", func(t *testing.T) {
		r := mustResolve(t, spec("kylin-v10-2025", amd, manifest.ComponentSpec{Name: "runc", Version: "1.3.0"}))
		a := artifact(t, r, "runc", "linux/amd64")
		if a.Digest != "" || a.DigestSource != "" || a.Checksum.URL != gh+"opencontainers/runc/releases/download/v1.3.0/runc.sha256sum" {
			t.Errorf("%+v", a)
		}
	})
	t.Run("variant", func(t *testing.T) {
		r := mustResolve(t, spec("kylin-v10-2025", amd, manifest.ComponentSpec{Name: "containerd", Variant: "dynamic"}))
		a := artifact(t, r, "containerd", "linux/amd64")
		c, _ := r.Component("containerd")
		if c.Version != "2.0.4" || c.Variant != "dynamic" || a.Digest != upContainerdAmd64 ||
			a.URL != gh+"containerd/containerd/releases/download/v2.0.4/containerd-2.0.4-linux-amd64.tar.gz" {
			t.Errorf("%+v %+v", c, a)
		}
	})
	t.Run("source with digest", func(t *testing.T) {
		mirror := "https://mirror.example/containerd/v2.0.4/containerd-static-2.0.4-linux-amd64.tar.gz"
		d := manifest.Digest("sha256:" + strings.Repeat("ab", 32))
		r := mustResolve(t, spec("kylin-v10-2025", nil, manifest.ComponentSpec{Name: "containerd",
			Sources: map[string]manifest.Source{"linux/amd64": {URL: mirror, Digest: d}}}))
		a := artifact(t, r, "containerd", "linux/amd64")
		if a.URL != mirror || a.Digest != d || a.DigestSource != manifest.DigestFromSpec || a.Checksum.URL != mirror+".sha256sum" {
			t.Errorf("%+v", a)
		}
		if b := artifact(t, r, "containerd", "linux/arm64"); b.Digest != upContainerdStaticArm64 {
			t.Errorf("arm64 lost its pin: %+v", b)
		}
	})
	t.Run("gvisor source moves both binaries", func(t *testing.T) {
		d := manifest.Digest("sha512:" + strings.Repeat("cd", 64))
		r := mustResolve(t, spec("kylin-v10-2025", amd, manifest.ComponentSpec{Name: "gvisor",
			Sources: map[string]manifest.Source{"linux/amd64": {URL: "https://mirror.example/gvisor/x86_64/runsc", Digest: d}}}))
		runsc, shim := artifact(t, r, "runsc", "linux/amd64"), artifact(t, r, "containerd-shim-runsc-v1", "linux/amd64")
		if runsc.Digest != d || shim.URL != "https://mirror.example/gvisor/x86_64/containerd-shim-runsc-v1" || shim.Digest != "" ||
			shim.Checksum.URL != shim.URL+".sha512" || shim.Files[0].Target != "/usr/local/bin/containerd-shim-runsc-v1" {
			t.Errorf("runsc %+v\nshim %+v", runsc, shim)
		}
	})
	t.Run("exclude", func(t *testing.T) {
		r := mustResolve(t, spec("kylin-v10-2025", nil, manifest.ComponentSpec{Name: "kata", Exclude: true}))
		if _, ok := r.Component("kata"); ok {
			t.Fatal("kata still there")
		}
		for _, n := range r.Notes {
			if n.Component == "kata" || n.ID == NoteDockerKataRuntimeType {
				t.Errorf("note %s without kata", n.ID)
			}
		}
	})
	t.Run("docker bundled binaries only without containerd and runc", func(t *testing.T) {
		sources := func(r *Resolved) []string {
			var out []string
			for _, f := range artifact(t, r, "docker", "linux/amd64").Files {
				out = append(out, f.Source)
			}
			return out
		}
		r := mustResolve(t, spec("kylin-v10-2025", amd))
		if got := sources(r); !reflect.DeepEqual(got, []string{"docker/docker", "docker/dockerd", "docker/docker-init", "docker/docker-proxy"}) {
			t.Errorf("with containerd and runc: %v", got)
		}
		r = mustResolve(t, spec("kylin-v10-2025", amd, manifest.ComponentSpec{Name: "containerd", Exclude: true}))
		got := sources(r)
		if !slices.Contains(got, "docker/containerd") || !slices.Contains(got, "docker/containerd-shim-runc-v2") || slices.Contains(got, "docker/runc") {
			t.Errorf("without containerd: %v", got)
		}
		if !slices.ContainsFunc(r.Notes, func(n manifest.Note) bool { return n.ID == "docker-bundled-containerd" }) {
			t.Error("no docker-bundled-containerd note")
		}
		r = mustResolve(t, spec("kylin-v10-2025", amd, manifest.ComponentSpec{Name: "runc", Exclude: true}))
		if got := sources(r); !slices.Contains(got, "docker/runc") || slices.Contains(got, "docker/containerd") {
			t.Errorf("without runc: %v", got)
		}
	})
	t.Run("kata version change drops the profile's arm64 version; notes follow the artifacts", func(t *testing.T) {
		r := mustResolve(t, spec("kylin-v10-2025", nil, manifest.ComponentSpec{Name: "kata", Version: "3.2.0"}))
		a := artifact(t, r, "kata", "linux/amd64")
		if a.URL != gh+"kata-containers/kata-containers/releases/download/3.2.0/kata-static-3.2.0-amd64.tar.xz" || a.Digest != upKata320Amd64 || a.Version != "3.2.0" {
			t.Errorf("%+v", a)
		}
		// The arm64 note is about kata-static 3.2.0 on arm64: still true.
		i := slices.IndexFunc(r.Notes, func(n manifest.Note) bool { return n.ID == "kata-arm64-untested" })
		if i < 0 || r.Notes[i].Platform != "linux/arm64" || r.Notes[i].Version != "3.2.0" {
			t.Errorf("kata-arm64-untested for kata 3.2.0: %+v", r.Notes)
		}
		r = mustResolve(t, spec("kylin-v10-2025", nil, manifest.ComponentSpec{Name: "kata", Version: "3.7.0"}))
		if a := artifact(t, r, "kata", "linux/arm64"); a.Version != "3.7.0" || !strings.Contains(a.URL, "/3.7.0/kata-static-3.7.0-arm64") {
			t.Errorf("kata 3.7.0 kept the profile's arm64 release: %+v", a)
		}
		if slices.ContainsFunc(r.Notes, func(n manifest.Note) bool { return n.ID == "kata-arm64-untested" }) {
			t.Error("kata-arm64-untested note kept for kata 3.7.0")
		}
	})
	t.Run("platforms", func(t *testing.T) {
		r := mustResolve(t, spec("kylin-v10-2025", amd))
		for _, c := range r.Components {
			for _, a := range c.Artifacts {
				if a.Platform != "linux/amd64" {
					t.Errorf("%s has %s", c.Name, a.Platform)
				}
			}
		}
		if slices.ContainsFunc(r.Notes, func(n manifest.Note) bool { return n.Platform == "linux/arm64" }) {
			t.Error("arm64 note in an amd64 bundle")
		}
	})
	t.Run("images", func(t *testing.T) {
		s := spec("kylin-v10-2025", nil)
		d := manifest.Digest("sha256:" + strings.Repeat("12", 32))
		s.Spec.Images = []manifest.ImageSpec{
			{Ref: "docker.io/library/nginx:1.27.4", Digest: d},
			{Ref: "registry.k8s.io/pause:3.10.1", Role: "sandbox"},
			{Ref: "docker.io/library/busybox:1.37"},
		}
		r := mustResolve(t, s)
		want := []manifest.ImageSpec{
			{Ref: "docker.io/library/nginx:1.27.4", Digest: d},
			{Ref: "registry.k8s.io/pause:3.10.1", Role: "sandbox"},
			{Ref: "docker.io/library/busybox:1.37"},
		}
		if !reflect.DeepEqual(r.Images, want) {
			t.Errorf("got %+v\nwant %+v", r.Images, want)
		}
		// The same ref without a digest keeps the profile's digest and role.
		s.Spec.Images = []manifest.ImageSpec{{Ref: "registry.k8s.io/pause:3.10"}}
		r = mustResolve(t, s)
		if r.Images[1] != (manifest.ImageSpec{Ref: "registry.k8s.io/pause:3.10", Digest: upPause310, Role: "sandbox"}) {
			t.Errorf("got %+v", r.Images)
		}
	})
	t.Run("no profile", func(t *testing.T) {
		r := mustResolve(t, spec("", amd, manifest.ComponentSpec{Name: "crictl", Version: "1.32.0"}, manifest.ComponentSpec{Name: "runc", Version: "1.2.6"}))
		if len(r.Components) != 2 || r.Components[0].Name != "runc" {
			t.Fatalf("components %+v", r.Components)
		}
		if a := artifact(t, r, "runc", "linux/amd64"); a.Digest != "" {
			t.Errorf("no profile, yet digest %s", a.Digest)
		}
	})
}

func TestResolveErrors(t *testing.T) {
	amd, arm := []string{"linux/amd64"}, []string{"linux/arm64"}
	tests := []struct {
		name  string
		spec  *manifest.Spec
		field string // the error names it
		hint  string // the hint contains it
	}{
		{"unknown profile", spec("kylin-v11", nil), "spec.profile", "kylin-v10-2025"},
		{"unknown component", spec("", amd, manifest.ComponentSpec{Name: "podman", Version: "5.0.0"}), "spec.components[0].name", "containerd"},
		{"unknown platform", spec("", []string{"linux/s390x"}, manifest.ComponentSpec{Name: "runc", Version: "1.2.6"}), "spec.platforms[0]", "linux/amd64"},
		{"leading v", spec("kylin-v10-2025", nil, manifest.ComponentSpec{Name: "runc", Version: "v1.2.6"}), "spec.components[0].version", `drop the leading "v"`},
		{"gvisor shape", spec("kylin-v10-2025", nil, manifest.ComponentSpec{Name: "gvisor", Version: "2025-03-31"}), "spec.components[0].version", "20250331.0"},
		{"kata 3.1.3 on arm64", spec("", arm, manifest.ComponentSpec{Name: "kata", Version: "3.1.3"}), "spec.components[0]", "kata 3.2.0 or later"},
		{"kata 4", spec("", amd, manifest.ComponentSpec{Name: "kata", Version: "4.0.0"}), "spec.components[0]", "sources"},
		{"variant on runc", spec("", amd, manifest.ComponentSpec{Name: "runc", Version: "1.2.6", Variant: "static"}), "spec.components[0].variant", "only containerd"},
		{"unknown variant", spec("kylin-v10-2025", nil, manifest.ComponentSpec{Name: "containerd", Variant: "musl"}), "profile kylin-v10-2025: component containerd.variant", "static, dynamic"},
		{"no static before 1.7", spec("", amd, manifest.ComponentSpec{Name: "containerd", Version: "1.6.38", Variant: "static"}), "spec.components[0]", "variant dynamic"},
		{"no version, no profile entry", spec("", amd, manifest.ComponentSpec{Name: "runc"}), "spec.components[0].version", ""},
		{"component not in profile needs a version", func() *manifest.Spec {
			s := spec("kylin-v10-2025", nil, manifest.ComponentSpec{Name: "kata", Exclude: true}, manifest.ComponentSpec{Name: "kata"})
			return s
		}(), "spec.components", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(tt.spec)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error does not name %q:\n%v", tt.field, err)
			}
			if !strings.Contains(fault.Text(err), "\nhint: ") {
				t.Errorf("error has no hint line:\n%v", err)
			}
			if tt.hint != "" && !strings.Contains(fault.Text(err), tt.hint) {
				t.Errorf("hint lacks %q:\n%v", tt.hint, err)
			}
		})
	}
	// kata 3.1.3 on arm64 is fine when the profile supplies the arm64 artifact.
	mustResolve(t, spec("kylin-v10-2025", arm, manifest.ComponentSpec{Name: "kata", Version: "3.1.3"}))
}

func TestCompatNotes(t *testing.T) {
	tests := []struct {
		in   map[string]string
		want []string
	}{
		{map[string]string{"docker": "27.5.1", "kata": "3.1.3"}, []string{NoteDockerKataNetwork, NoteDockerKataRuntimeType}},
		{map[string]string{"docker": "25.0.5", "kata": "3.1.3"}, []string{NoteDockerKataRuntimeType}},
		{map[string]string{"docker": "26.0.0", "kata": "3.29.0"}, []string{NoteKataGlibc, NoteKataVirtiofsdKylinV10, NoteDockerKataRuntimeType}},
		{map[string]string{"kata": "3.13.0"}, []string{NoteKataVirtiofsdKylinV10}},
		{map[string]string{"kata": "3.14.0"}, []string{NoteKataGlibc, NoteKataVirtiofsdKylinV10}},
		{map[string]string{"kata": "3.11.2"}, nil},
		{map[string]string{"containerd": "2.1.0"}, []string{NoteContainerdGlibc}},
		{map[string]string{"containerd": "2.1.0+dynamic"}, []string{NoteContainerdGlibc}},
		{map[string]string{"containerd": "2.1.0+static"}, nil},
		{map[string]string{"containerd": "2.0.4"}, nil},
		{map[string]string{"containerd": "1.6.20", "gvisor": "20250331.0"}, []string{NoteGvisorShimContainerd}},
		{map[string]string{"containerd": "1.7.0", "gvisor": "20250331.0"}, nil},
		{map[string]string{"docker": "27.5.1"}, nil},
		{map[string]string{"kata": "not-a-version"}, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, n := range CompatNotes(tt.in) {
			got = append(got, n.ID)
			if n.Text == "" || !slices.Contains([]string{"info", "warning", "error"}, n.Severity) {
				t.Errorf("%v: malformed note %+v", tt.in, n)
			}
			if !regexp.MustCompile(`#[0-9]+|\.yaml|test/e2e`).MatchString(n.Text) {
				t.Errorf("%s cites no source: %s", n.ID, n.Text)
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: notes %v, want %v", tt.in, got, tt.want)
		}
	}
	docker23 := CompatNotes(map[string]string{"docker": "23.0.6", "kata": "3.1.3"})
	if len(docker23) != 1 || docker23[0].ID != NoteDockerKataRuntimeType || docker23[0].Severity != "warning" {
		t.Errorf("docker 23 + kata: %+v", docker23)
	}
	for id, want := range map[string][2]string{NoteKataGlibc: {"kata", "2.34"}, NoteContainerdGlibc: {"containerd", "2.35"}, NoteDockerKataNetwork: {}} {
		c, g, ok := GlibcNeed(manifest.Note{ID: id})
		if [2]string{c, g} != want || ok != (want[0] != "") {
			t.Errorf("GlibcNeed(%s) = %s %s %v", id, c, g, ok)
		}
	}
}

func TestInitSpec(t *testing.T) {
	for _, name := range Names() {
		s, err := InitSpec(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		y, err := InitYAML(name)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := manifest.ParseSpec(y)
		if err != nil {
			t.Fatalf("%s: init YAML does not parse: %v\n%s", name, err, y)
		}
		if !reflect.DeepEqual(parsed, s) {
			t.Errorf("%s: YAML says %+v, InitSpec %+v", name, parsed, s)
		}
		// Uncommenting the component block must give a valid spec that
		// resolves to the same versions.
		var un []string
		inComponents := false
		for _, l := range strings.Split(string(y), "\n") {
			if strings.HasPrefix(l, "  # components:") {
				inComponents = true
			} else if inComponents && !strings.HasPrefix(l, "  #   ") {
				inComponents = false
			}
			if inComponents {
				l = strings.Replace(l, "# ", "", 1)
			}
			un = append(un, l)
		}
		s2, err := manifest.ParseSpec([]byte(strings.Join(un, "\n")))
		if err != nil {
			t.Fatalf("%s: uncommented components: %v", name, err)
		}
		p, _ := Get(name)
		if len(s2.Spec.Components) != len(p.Components) {
			t.Errorf("%s: %d components uncommented, want %d", name, len(s2.Spec.Components), len(p.Components))
		}
		r1, r2 := mustResolve(t, s), mustResolve(t, s2)
		if !reflect.DeepEqual(r1.Components, r2.Components) {
			t.Errorf("%s: uncommenting the components changed the plan", name)
		}
	}
	if _, err := InitSpec("nope"); err == nil || manifest.Hint(err) == "" {
		t.Errorf("InitSpec(nope) = %v, want a hinted error", err)
	}
}

func TestFileRuleMatch(t *testing.T) {
	tests := []struct {
		rule component.FileRule
		name string
		want string
	}{
		{component.FileRule{Source: "bin/**", Target: "/usr/local/bin"}, "bin/ctr", "/usr/local/bin/ctr"},
		{component.FileRule{Source: "bin/**", Target: "/usr/local/bin"}, "./bin/containerd", "/usr/local/bin/containerd"},
		{component.FileRule{Source: "opt/kata/**", Target: "/opt/kata"}, "./opt/kata/share/defaults/kata-containers/configuration.toml", "/opt/kata/share/defaults/kata-containers/configuration.toml"},
		{component.FileRule{Source: "opt/kata/**", Target: "/opt/kata"}, "./opt/kata/", "/opt/kata"},
		{component.FileRule{Source: "opt/kata/**", Target: "/opt/kata"}, "./opt/katalog", ""},
		{component.FileRule{Source: "opt/kata/**", Target: "/opt/kata"}, "./", ""},
		{component.FileRule{Source: "docker/dockerd", Target: "/usr/local/bin/dockerd"}, "docker/dockerd", "/usr/local/bin/dockerd"},
		{component.FileRule{Source: "docker/dockerd", Target: "/usr/local/bin/dockerd"}, "docker/docker", ""},
	}
	for _, tt := range tests {
		got, ok := tt.rule.Match(tt.name)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%+v.Match(%q) = %q %v, want %q", tt.rule, tt.name, got, ok, tt.want)
		}
	}
}

func TestParseProfileStrict(t *testing.T) {
	good := "apiVersion: satchel/v1\nkind: Profile\nname: x\ndescription: d\nplatforms: [linux/amd64]\ncomponents:\n  - name: runc\n    version: 1.2.6\n"
	if _, err := parseProfile([]byte(good)); err != nil {
		t.Fatalf("good profile: %v", err)
	}
	for name, bad := range map[string]string{
		"unknown field": good + "colour: blue\n",
		"bad digest":    good + "pins:\n  - url: https://x/y\n    digest: sha256:abc\n    from: me\n",
		"pin source":    good + "pins:\n  - url: https://x/y\n    digest: " + upRunc126Amd64 + "\n",
		"bad version":   strings.Replace(good, "1.2.6", "one", 1),
		"wrong kind":    strings.Replace(good, "kind: Profile", "kind: Bundle", 1),
	} {
		if _, err := parseProfile([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestVersionCompare(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"3.1.3", "3.2.0", -1}, {"3.21.0", "3.3.0", 1}, {"1.2.0-rc.1", "1.2.0", -1}, {"2.0.4", "2.0.4", 0}, {"10.0.0", "9.9.9", 1},
	} {
		if got := mustVersion(tt.a).Compare(mustVersion(tt.b)); got != tt.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestProfileVersionsReadAsWritten: a profile's versions are the literal
// YAML text, quoted or not (issue 7, #16).
func TestProfileVersionsReadAsWritten(t *testing.T) {
	src := "apiVersion: satchel/v1\nkind: Profile\nname: x\ndescription: d\nplatforms: [linux/amd64]\ncomponents:\n" +
		"  - name: gvisor\n    version: 20250331.0\n  - name: runc\n    version: 1.2.10\n  - name: containerd\n    version: 2.0.0\n" +
		"notes:\n  - id: n\n    component: runc\n    version: 1.10\n    severity: info\n    text: t\n"
	p, err := parseProfile([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range p.Components {
		got[c.Name] = c.Version
	}
	if got["gvisor"] != "20250331.0" || got["runc"] != "1.2.10" || got["containerd"] != "2.0.0" {
		t.Errorf("versions %v", got)
	}
	if p.Notes[0].Version != "1.10" || p.Notes[0].ID != "n" || p.Notes[0].Severity != "info" {
		t.Errorf("note %+v", p.Notes[0])
	}
	yamltest.CheckTags(t, reflect.TypeFor[profileFile]())
}

// The catalog lives in the component descriptors; these name it the way
// the tests here were written.
func mustDescriptor(name string) *component.Descriptor {
	d, ok := component.Lookup(name)
	if !ok {
		panic("unknown component " + name)
	}
	return d
}

func mustVersion(v string) component.Version {
	out, err := component.ParseVersion("", v)
	if err != nil {
		panic(err)
	}
	return out
}

func catalogURLs(name, version, variant, platform string) ([]component.Artifact, error) {
	d := mustDescriptor(name)
	v, err := component.ParseVersion(name, version)
	if err != nil {
		return nil, err
	}
	return d.ArtifactsFor(v, variant, platform, "")
}

package config

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/satchel-dev/satchel/install/rootfs"
	"io/fs"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// Runtime types containerd's CRI plugin starts shims by.
const (
	RuncRuntimeType  = "io.containerd.runc.v2"
	RunscRuntimeType = "io.containerd.runsc.v1"
	KataRuntimeType  = "io.containerd.kata.v2"
	// RunscOptionsType is the TypeUrl that makes containerd pass ConfigPath to the gVisor shim.
	RunscOptionsType = "io.containerd.runsc.v1.options"
)

// ContainerdOptions selects what the containerd configuration says.
type ContainerdOptions struct {
	// Version is the bundled containerd's version ("2.0.4", "v1.6.20"); it
	// picks the config schema (see the package documentation).
	Version string
	// Runtimes lists the installed runtimes among Runc, Runsc and Kata; only
	// these are configured.
	Runtimes []string
	// DefaultRuntime becomes CRI's default_runtime_name; "" leaves what the
	// user set, or containerd's default (runc).
	DefaultRuntime string
	// SystemdCgroup is runc's SystemdCgroup option: true when systemd is
	// init and manages cgroups (what kubelet's systemd cgroup driver needs).
	SystemdCgroup bool
	// SandboxImage is the pause image reference (sandbox_image in 1.x,
	// pinned_images.sandbox in 2.x); "" leaves it alone.
	SandboxImage string
	// RuncBinary, when set, becomes runc's BinaryName (e.g.
	// /usr/local/bin/runc), so a packaged runc earlier on PATH is never used.
	RuncBinary string
	// RunscBinary, when set, becomes binary_name in runsc.toml.
	RunscBinary string
	// RunscConfigPath is where runsc.toml goes; default RunscConfigPath.
	RunscConfigPath string
	// RunscFlags are extra [runsc_config] entries: runsc flags without
	// dashes, e.g. {"network": "host"}. platform defaults to "systrap",
	// which needs no KVM and works in VMs.
	RunscFlags map[string]string
	// KataConfigPath is kata's configuration.toml; default KataConfigPath.
	KataConfigPath string
	// RegistryConfigPath is CRI's registry config_path, where hosts.toml
	// files live; default RegistryConfigPath.
	RegistryConfigPath string
	// RegistryMirrors become hosts.toml files under RegistryConfigPath.
	RegistryMirrors []RegistryMirror
	// RestrictOOMScoreAdj sets CRI's restrict_oom_score_adj, for hosts where
	// containerd may not lower OOM scores (no CAP_SYS_RESOURCE, e.g. a
	// container); real hosts leave it false.
	RestrictOOMScoreAdj bool
	// ReadFile returns the current content of a target path (the engine
	// reads it under --root), or an error wrapping fs.ErrNotExist. Existing
	// hosts.toml files are merged with it. nil: none exist.
	ReadFile func(path string) ([]byte, error)
}

// layout says where settings live in one config schema version.
type layout struct {
	version int
	runtime []string // CRI runtime plugin: runtimes, default runtime
	images  []string // CRI image plugin: sandbox image, registry
	sandbox []string // sandbox image key below images
}

func layoutFor(schema int) layout {
	if schema == 2 {
		cri := []string{"plugins", "io.containerd.grpc.v1.cri"}
		return layout{version: 2, runtime: cri, images: cri, sandbox: []string{"sandbox_image"}}
	}
	// Versions 3 and 4 share the CRI sections (version 4 moved only server
	// settings: containerd cmd/containerd/server/config/config.go serviceMigrate).
	return layout{
		version: schema,
		runtime: []string{"plugins", "io.containerd.cri.v1.runtime"},
		images:  []string{"plugins", "io.containerd.cri.v1.images"},
		sandbox: []string{"pinned_images", "sandbox"},
	}
}

func (l layout) at(base []string, path ...string) []string {
	return append(slices.Clone(base), path...)
}

// Schema returns the config.toml version the given containerd version
// writes and reads natively: 2 for 1.3–1.7, 3 for 2.0–2.2, 4 for 2.3 and later 2.x.
func Schema(containerdVersion string) (int, error) {
	v, err := parseVersion(containerdVersion)
	if err != nil {
		return 0, fmt.Errorf("containerd version: %w", err)
	}
	switch {
	case v.major == 1 && !v.less(1, 3):
		return 2, nil
	case v.major == 2 && v.less(2, 3):
		return 3, nil
	case v.major == 2:
		return 4, nil
	}
	return 0, hintf("satchel configures containerd 1.3–1.7 and 2.x; bundle one of those",
		"containerd %s: no known config schema", containerdVersion)
}

// Containerd renders containerd's configuration for the bundled version,
// merged into existing (the current /etc/containerd/config.toml, nil when
// none). The result holds config.toml, for 2.x the drop-in
// /etc/containerd/conf.d/satchel.toml, runsc.toml when runsc is installed,
// and one hosts.toml per mirrored registry.
func Containerd(opts ContainerdOptions, existing []byte) (Result, error) {
	var res Result
	schema, err := Schema(opts.Version)
	if err != nil {
		return res, err
	}
	if err := opts.check(); err != nil {
		return res, err
	}
	opts.defaults()

	root, err := parseTOML(existing)
	if err != nil {
		return res, hintf("fix the TOML syntax, or move the file aside and run again; satchel will not overwrite a file it cannot read",
			"parsing %s: %w", ContainerdConfigPath, err)
	}
	rootVer, err := configVersion(root)
	if err != nil {
		return res, err
	}
	if len(root) > 0 {
		switch {
		case rootVer == 0 && !hasPluginKeys(root):
			// Versions 1 and 2 differ only in plugin names, so a file without
			// plugin settings means the same as version 2, the oldest schema
			// every supported containerd reads and migrates.
			rootVer = 2
			res.warnf("%s has no version key; satchel sets version = 2, which means the same for a file without plugin settings", ContainerdConfigPath)
		case rootVer < 2:
			return res, hintf(migrateHint(schema),
				"%s uses config version 1 (no version key, or version = 1: plugin names from before containerd 1.3); satchel merges only into version 2 or later",
				ContainerdConfigPath)
		case rootVer > int64(schema):
			return res, hintf("the file was written for a newer containerd; move it aside (satchel writes a new one) or bundle that containerd version",
				"%s has config version %d, but the bundled containerd %s reads at most version %d",
				ContainerdConfigPath, rootVer, opts.Version, schema)
		}
	}

	if schema == 2 {
		err = opts.merge1x(&res, root, existing)
	} else {
		err = opts.dropIn(&res, schema, root, rootVer, existing)
	}
	if err != nil {
		return res, err
	}
	if slices.Contains(opts.Runtimes, Runsc) && RunscShimSupported(opts.Version) {
		res.Files = append(res.Files, File{Path: rootfs.Path(opts.RunscConfigPath), Data: opts.runscTOML(), Mode: 0o644})
	}
	if err := opts.hostsFiles(&res); err != nil {
		return res, err
	}
	return res, nil
}

// hasPluginKeys reports whether a config names plugins, whose names differ
// between config versions 1 and 2.
func hasPluginKeys(doc tomlDoc) bool {
	for _, k := range []string{"plugins", "disabled_plugins", "required_plugins"} {
		if _, ok := doc[k]; ok {
			return true
		}
	}
	return false
}

func migrateHint(schema int) string {
	if schema >= 3 {
		return "convert it with `containerd config migrate` (containerd 2.x) and install the result, or move it aside"
	}
	return `rewrite it with "version = 2" and plugins."io.containerd.grpc.v1.cri" (containerd docs/cri/config.md), or move it aside`
}

func (o *ContainerdOptions) check() error {
	for _, r := range o.Runtimes {
		if r != Runc && r != Runsc && r != Kata {
			return fmt.Errorf("containerd: unknown runtime %q (want %s, %s or %s)", r, Runc, Runsc, Kata)
		}
	}
	if o.DefaultRuntime != "" && !slices.Contains(o.Runtimes, o.DefaultRuntime) {
		return hintf("pick one of the installed runtimes: "+strings.Join(o.Runtimes, ", "),
			"default runtime %q is not installed", o.DefaultRuntime)
	}
	return nil
}

func (o *ContainerdOptions) defaults() {
	if o.RunscConfigPath == "" {
		o.RunscConfigPath = string(RunscConfigPath)
	}
	if o.KataConfigPath == "" {
		o.KataConfigPath = string(KataConfigPath)
	}
	if o.RegistryConfigPath == "" {
		o.RegistryConfigPath = string(RegistryConfigPath)
	}
}

// configVersion reads the top-level version key; absent is 0 (containerd
// treats it as version 1).
func configVersion(doc tomlDoc) (int64, error) {
	v, ok := doc["version"]
	if !ok {
		return 0, nil
	}
	n, ok := v.(int64)
	if !ok {
		return 0, hintf(`write it as an integer, e.g. version = 2`, "%s: version is %v, not an integer", ContainerdConfigPath, v)
	}
	return n, nil
}

// apply sets satchel's keys in doc, laid out for l. user is the document
// holding the user's registry settings (doc itself in 1.x, the root
// config.toml for a 2.x drop-in), laid out for userLayout.
func (o *ContainerdOptions) apply(res *Result, doc tomlDoc, l layout, user tomlDoc, userLayout layout) error {
	set := func(v any, path ...string) error { return setPath(doc, v, path...) }
	for _, name := range o.Runtimes {
		rt := l.at(l.runtime, "containerd", "runtimes", name)
		var err error
		switch name {
		case Runc:
			err = errors.Join(
				set(RuncRuntimeType, l.at(rt, "runtime_type")...),
				set(o.SystemdCgroup, l.at(rt, "options", "SystemdCgroup")...))
			if o.RuncBinary != "" {
				err = errors.Join(err, set(o.RuncBinary, l.at(rt, "options", "BinaryName")...))
			}
		case Runsc:
			if !RunscShimSupported(o.Version) {
				// containerd < 1.7 cannot read the bootstrap parameters of a
				// gVisor shim built on containerd 2's shim library; runsc also
				// works as a runc-compatible binary under the runc shim.
				bin := o.RunscBinary
				if bin == "" {
					bin = BinDir + "/runsc"
				}
				err = errors.Join(
					set(RuncRuntimeType, l.at(rt, "runtime_type")...),
					set(bin, l.at(rt, "options", "BinaryName")...))
				res.Warnings = append(res.Warnings, fmt.Sprintf(
					"containerd %s: runsc is registered as a runc-compatible binary under %s (the gVisor shim needs containerd 1.7 or later); Kubernetes pods with RuntimeClass runsc do not start this way", o.Version, RuncRuntimeType))
				break
			}
			err = errors.Join(
				set(RunscRuntimeType, l.at(rt, "runtime_type")...),
				set(RunscOptionsType, l.at(rt, "options", "TypeUrl")...),
				set(o.RunscConfigPath, l.at(rt, "options", "ConfigPath")...))
		case Kata:
			// privileged_without_host_devices: a privileged kata pod must not
			// get the host's devices inside its VM (kata's containerd how-to).
			err = errors.Join(
				set(KataRuntimeType, l.at(rt, "runtime_type")...),
				set(true, l.at(rt, "privileged_without_host_devices")...),
				set(o.KataConfigPath, l.at(rt, "options", "ConfigPath")...))
		}
		if err != nil {
			return tableErr(err)
		}
	}
	if o.DefaultRuntime != "" {
		if err := set(o.DefaultRuntime, l.at(l.runtime, "containerd", "default_runtime_name")...); err != nil {
			return tableErr(err)
		}
	}
	if o.SandboxImage != "" {
		if err := set(o.SandboxImage, l.at(l.images, l.sandbox...)...); err != nil {
			return tableErr(err)
		}
	}
	if o.RestrictOOMScoreAdj {
		if err := set(true, l.at(l.runtime, "restrict_oom_score_adj")...); err != nil {
			return tableErr(err)
		}
	}

	// Registry: config_path cannot be combined with the deprecated inline
	// mirrors or configs.*.tls (containerd refuses to start), so a file using
	// those keeps them and gets no config_path.
	reg, _ := getPath(user, userLayout.at(userLayout.images, "registry")...)
	regMap, _ := reg.(map[string]any)
	if legacy := legacyRegistry(regMap); legacy != "" {
		res.warnf("%s sets registry.%s, which containerd does not allow together with registry.config_path; "+
			"satchel leaves the registry settings alone, so hosts.toml files under %s (registry mirrors) are not used: move the settings to hosts.toml files (containerd docs/hosts.md)",
			ContainerdConfigPath, legacy, o.RegistryConfigPath)
		return nil
	}
	paths := []string{o.RegistryConfigPath}
	if cur, ok := regMap["config_path"].(string); ok && cur != "" {
		// config_path is a list (filepath.SplitList); keep the user's
		// directories after ours, so our mirrors are found first.
		for _, p := range filepath.SplitList(cur) {
			if !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	if err := set(strings.Join(paths, string(filepath.ListSeparator)), l.at(l.images, "registry", "config_path")...); err != nil {
		return tableErr(err)
	}
	return nil
}

func tableErr(err error) error {
	return hintf("satchel needs that key to be a table; fix the file or move it aside", "%s: %w", ContainerdConfigPath, err)
}

// legacyRegistry names the deprecated registry setting in use, if any.
func legacyRegistry(reg map[string]any) string {
	if m, ok := reg["mirrors"].(map[string]any); ok && len(m) > 0 {
		return "mirrors"
	}
	if cs, ok := reg["configs"].(map[string]any); ok {
		for _, c := range cs {
			if cm, ok := c.(map[string]any); ok && cm["tls"] != nil {
				return "configs.*.tls"
			}
		}
	}
	return ""
}

// merge1x merges satchel's settings into config.toml itself (version 2).
func (o *ContainerdOptions) merge1x(res *Result, root tomlDoc, existing []byte) error {
	doc := deepCopy(root).(tomlDoc)
	if _, ok := doc["version"]; !ok {
		doc["version"] = int64(2)
	}
	l := layoutFor(2)
	if err := o.apply(res, doc, l, doc, l); err != nil {
		return err
	}
	if imports, _ := importList(doc); len(imports) > 0 {
		res.warnf("%s imports %v: in containerd 1.x a plugin section in an imported file replaces config.toml's whole section, "+
			"so an imported [plugins.\"io.containerd.grpc.v1.cri\"] would drop the runtimes satchel merged in; move such settings into config.toml",
			ContainerdConfigPath, imports)
	}
	head := header("#", "Created by satchel-install for containerd "+o.Version+".",
		"satchel merges its settings into this file: keys you add are kept, comments are not.")
	data, err := o.encodeMerged(res, doc, root, existing, head)
	if err != nil {
		return err
	}
	res.Files = append(res.Files, File{Path: ContainerdConfigPath, Data: data, Mode: 0o644})
	return nil
}

// encodeMerged returns existing unchanged when the merge changed nothing
// (so a re-run writes nothing), or the encoded merge.
// A file satchel creates starts with head.
func (o *ContainerdOptions) encodeMerged(res *Result, doc, root tomlDoc, existing []byte, head string) ([]byte, error) {
	norm, err := normalize(doc)
	if err != nil {
		return nil, err
	}
	if len(root) > 0 && reflect.DeepEqual(norm, root) {
		return existing, nil
	}
	if hasComments(existing) {
		res.warnf("%s is re-encoded to merge satchel's settings: its comments are not kept (the original is backed up)", ContainerdConfigPath)
	}
	b, err := encodeTOML(doc, "version")
	if err != nil {
		return nil, err
	}
	if len(root) == 0 {
		b = append([]byte(head), b...)
	}
	return b, nil
}

// dropIn writes satchel's settings to the drop-in and makes config.toml import it.
func (o *ContainerdOptions) dropIn(res *Result, schema int, root tomlDoc, rootVer int64, existing []byte) error {
	dropVer := schema
	if len(root) > 0 && int(rootVer) < schema {
		// containerd refuses a drop-in newer than the root file; write the
		// drop-in in the root's schema and let containerd migrate both.
		dropVer = int(rootVer)
		res.warnf("%s uses config version %d; the bundled containerd %s migrates it (and satchel's drop-in, written as version %d to match) on every start. "+
			"`containerd config migrate` converts it to version %d",
			ContainerdConfigPath, rootVer, o.Version, dropVer, schema)
	}

	doc := deepCopy(root).(tomlDoc)
	if _, ok := doc["version"]; !ok {
		if len(doc) == 0 {
			doc["version"] = int64(schema)
		} else {
			doc["version"] = rootVer // a version-less file without plugin settings, see Containerd
		}
	}
	imports, err := importList(doc)
	if err != nil {
		return err
	}
	if !imported(imports, string(ContainerdDropInPath)) {
		doc["imports"] = append(imports, string(ContainerdDropInPath))
	}
	head := header("#", "Created by satchel-install for containerd "+o.Version+". satchel's settings are in "+string(ContainerdDropInPath)+";",
		"put your own here (they are kept; settings in imported files win).")
	data, err := o.encodeMerged(res, doc, root, existing, head)
	if err != nil {
		return err
	}
	res.Files = append(res.Files, File{Path: ContainerdConfigPath, Data: data, Mode: 0o644})

	drop := tomlDoc{"version": int64(dropVer)}
	rootLayout := layoutFor(int(max(rootVer, 2)))
	if len(root) == 0 {
		rootLayout = layoutFor(schema)
	}
	if err := o.apply(res, drop, layoutFor(dropVer), root, rootLayout); err != nil {
		return err
	}
	body, err := encodeTOML(drop, "version")
	if err != nil {
		return err
	}
	head = header("#", "Written by satchel-install: runtimes, sandbox image and registry settings for containerd "+o.Version+".",
		"Imported by "+string(ContainerdConfigPath)+"; put your own settings there or in another file. "+ownedNote)
	res.Files = append(res.Files, File{Path: ContainerdDropInPath, Data: append([]byte(head), body...), Mode: 0o644})
	return nil
}

func importList(doc tomlDoc) ([]any, error) {
	v, ok := doc["imports"]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, hintf(`write it as a list, e.g. imports = ["/etc/containerd/conf.d/*.toml"]`, "%s: imports is a %T, not a list", ContainerdConfigPath, v)
	}
	for _, e := range list {
		if _, ok := e.(string); !ok {
			return nil, fmt.Errorf("%s: imports holds %v, not a path", ContainerdConfigPath, e)
		}
	}
	return list, nil
}

// imported reports whether an imports list already covers path, literally or
// by a glob (containerd resolves globs with filepath.Glob; relative entries
// are relative to config.toml's directory).
func imported(imports []any, path string) bool {
	for _, e := range imports {
		p := filepath.Clean(e.(string))
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(string(ContainerdConfigPath)), p)
		}
		if p == path {
			return true
		}
		if strings.Contains(p, "*") {
			if ok, _ := filepath.Match(p, path); ok {
				return true
			}
		}
	}
	return false
}

// RunscShimSupported reports whether containerd of this version can run
// gVisor's containerd-shim-runsc-v1. Current gVisor shims are built on
// containerd 2's shim library and answer with JSON bootstrap parameters,
// which containerd 1.7 and later read and 1.6 does not ("dial unix
// {"version":2,...}: invalid argument", seen in the e2e with Debian's 1.6.20).
func RunscShimSupported(containerdVersion string) bool {
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimPrefix(containerdVersion, "v"), "%d.%d", &major, &minor); err != nil {
		return true
	}
	return major > 1 || major == 1 && minor >= 7
}

// runscTOML renders the gVisor shim's config (ConfigPath of the runsc runtime).
func (o *ContainerdOptions) runscTOML() []byte {
	flags := map[string]string{"platform": "systrap"}
	maps.Copy(flags, o.RunscFlags)
	doc := tomlDoc{"runsc_config": flags}
	if o.RunscBinary != "" {
		doc["binary_name"] = o.RunscBinary
	}
	body, err := encodeTOML(doc, "binary_name")
	if err != nil {
		panic(err) // plain strings always encode
	}
	head := header("#", "Written by satchel-install: gVisor (runsc) options for containerd-shim-runsc-v1.",
		"[runsc_config] holds runsc flags without dashes. "+ownedNote)
	return append([]byte(head), body...)
}

// hostsFiles renders one hosts.toml per mirrored registry.
func (o *ContainerdOptions) hostsFiles(res *Result) error {
	var regs []string
	by := map[string][]RegistryMirror{}
	for _, m := range o.RegistryMirrors {
		if _, ok := by[m.Registry]; !ok {
			regs = append(regs, m.Registry)
		}
		by[m.Registry] = append(by[m.Registry], m)
	}
	for _, reg := range regs {
		p := hostsPath(o.RegistryConfigPath, reg)
		var cur []byte
		if o.ReadFile != nil {
			b, err := o.ReadFile(p)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			cur = b
		}
		data, err := HostsTOML(by[reg], cur)
		if err != nil {
			return err
		}
		if cur != nil && bytes.Equal(stripHeader(data), stripHeader(cur)) {
			data = cur
		}
		res.Files = append(res.Files, File{Path: rootfs.Path(p), Data: data, Mode: 0o644})
	}
	return nil
}

// stripHeader drops leading comment lines.
func stripHeader(b []byte) []byte {
	for len(b) > 0 && b[0] == '#' {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	return b
}

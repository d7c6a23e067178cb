package config

import (
	"fmt"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// RegistryMirror sends pulls for one registry to a mirror, as containerd's
// hosts.toml files do (containerd docs/hosts.md).
type RegistryMirror struct {
	// Registry is the registry host namespace: "docker.io", "registry.k8s.io",
	// "reg.example:5000", or "_default" for every registry.
	Registry string
	// Endpoint is the mirror: "harbor.internal/dockerhub" (https assumed),
	// "https://mirror.example", or "http://10.0.0.5:5000" for plain HTTP.
	// A path is a prefix under the registry API root, as Harbor proxy-cache
	// projects use: harbor.internal/dockerhub becomes
	// https://harbor.internal/v2/dockerhub with override_path = true.
	Endpoint string
	// SkipVerify skips TLS certificate checks for an https mirror.
	SkipVerify bool
}

// ParseRegistryMirror reads the --registry-mirror form "REGISTRY=MIRROR",
// e.g. "docker.io=harbor.internal/dockerhub".
func ParseRegistryMirror(s string) (RegistryMirror, error) {
	reg, ep, ok := strings.Cut(s, "=")
	if !ok || reg == "" || ep == "" {
		return RegistryMirror{}, hintf("write it as REGISTRY=MIRROR, e.g. docker.io=harbor.internal/dockerhub",
			"registry mirror %q: want REGISTRY=MIRROR", s)
	}
	m := RegistryMirror{Registry: reg, Endpoint: ep}
	if _, _, err := m.hostKey(); err != nil {
		return RegistryMirror{}, err
	}
	if strings.ContainsAny(reg, "/ ") {
		return RegistryMirror{}, hintf("give a host name with an optional port, e.g. docker.io or reg.example:5000",
			"registry mirror %q: %q is not a registry host", s, reg)
	}
	return m, nil
}

// hostKey returns the [host."…"] key and whether override_path is needed.
func (m RegistryMirror) hostKey() (string, bool, error) {
	ep := m.Endpoint
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		return "", false, hintf("give a host with an optional port and path, e.g. harbor.internal/dockerhub or http://10.0.0.5:5000",
			"registry mirror %q is not an http(s) host", m.Endpoint)
	}
	p := strings.TrimSuffix(path.Clean("/"+u.Path), "/")
	override := false
	switch {
	case p == "" || strings.HasSuffix(p, "/v2"):
		// containerd appends /v2 unless the path already ends with it.
	case strings.HasPrefix(p, "/v2/"):
		override = true
	default:
		p = "/v2" + p
		override = true
	}
	return u.Scheme + "://" + u.Host + p, override, nil
}

// upstream is the registry's own server, tried after the mirrors.
func upstream(registry string) string {
	switch registry {
	case "_default":
		return ""
	case "docker.io":
		return "https://registry-1.docker.io"
	}
	return "https://" + registry
}

// hostsDir is the directory name containerd looks up for a registry:
// "reg:5000" is found as "reg:5000" on Unix (containerd also tries "reg_5000_").
func hostsPath(configPath, registry string) string {
	return path.Join(configPath, registry, "hosts.toml")
}

// HostsTOML renders the hosts.toml for the mirrors of one registry (all of
// mirrors must name the same Registry), merged into existing (nil when none).
// The given mirrors come first, in order, then any other hosts the file had,
// in their order (containerd tries hosts in file order). Keys the user set are
// kept; capabilities, and skip_verify/override_path when needed, are set.
// `server` is added only when the file has none.
func HostsTOML(mirrors []RegistryMirror, existing []byte) ([]byte, error) {
	if len(mirrors) == 0 {
		return nil, fmt.Errorf("hosts.toml: no mirrors")
	}
	reg := mirrors[0].Registry
	doc, err := parseTOML(existing)
	if err != nil {
		return nil, hintf("fix or remove the file; satchel merges into it and will not overwrite what it cannot read",
			"parsing hosts.toml for %s: %w", reg, err)
	}
	order, err := hostOrder(existing)
	if err != nil {
		return nil, err
	}
	if _, ok := doc["server"]; !ok && upstream(reg) != "" {
		doc["server"] = upstream(reg)
	}
	hosts := tomlDoc{}
	if h, ok := doc["host"]; ok {
		if hosts, ok = h.(map[string]any); !ok {
			return nil, fmt.Errorf("hosts.toml for %s: host is a %T, not a table", reg, h)
		}
	}
	var ours []string
	for _, m := range mirrors {
		if m.Registry != reg {
			return nil, fmt.Errorf("hosts.toml: mirrors for %s and %s mixed", reg, m.Registry)
		}
		key, override, err := m.hostKey()
		if err != nil {
			return nil, err
		}
		h, err := table(hosts, key)
		if err != nil {
			return nil, fmt.Errorf("hosts.toml for %s: %w", reg, err)
		}
		h["capabilities"] = []any{"pull", "resolve"}
		if m.SkipVerify {
			h["skip_verify"] = true
		}
		if override {
			h["override_path"] = true
		}
		if !slices.Contains(ours, key) {
			ours = append(ours, key)
		}
	}
	// Hosts in order: ours, then the file's others as they were, then any the
	// order scan missed (dotted-key forms), sorted.
	keys := slices.Clone(ours)
	for _, k := range order {
		if _, ok := hosts[k]; ok && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	var missed []string
	for k := range hosts {
		if !slices.Contains(keys, k) {
			missed = append(missed, k)
		}
	}
	slices.Sort(missed)
	keys = append(keys, missed...)

	hostVal, err := orderedValue(hosts, keys)
	if err != nil {
		return nil, fmt.Errorf("hosts.toml for %s: %w", reg, err)
	}
	top := make(tomlDoc, len(doc))
	var topKeys []string
	for k, v := range doc {
		if k != "host" {
			top[k] = v
			topKeys = append(topKeys, k)
		}
	}
	slices.Sort(topKeys)
	if i := slices.Index(topKeys, "server"); i > 0 {
		topKeys = append([]string{"server"}, slices.Delete(topKeys, i, i+1)...)
	}
	top["host"] = hostVal
	topKeys = append(topKeys, "host")
	v, err := orderedValue(top, topKeys)
	if err != nil {
		return nil, fmt.Errorf("hosts.toml for %s: %w", reg, err)
	}
	var b strings.Builder
	b.WriteString(header("#", "Written by satchel-install: registry mirrors for "+reg+" (containerd docs/hosts.md).",
		"satchel merges into this file: keys and hosts you add are kept, comments are not."))
	enc := toml.NewEncoder(&b)
	enc.SetIndentTables(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := []byte(b.String())

	// Self-check: the ordered encoding must mean exactly the merged document.
	doc["host"] = hosts
	want, err := normalize(doc)
	if err != nil {
		return nil, err
	}
	got, err := parseTOML(out)
	if err != nil || !reflect.DeepEqual(got, want) {
		return nil, fmt.Errorf("hosts.toml for %s: internal error: encoded document differs from the merge (%v)", reg, err)
	}
	return out, nil
}

// hostOrder lists the [host."…"] tables of a hosts.toml in file order.
func hostOrder(b []byte) ([]string, error) {
	var p unstable.Parser
	p.Reset(b)
	var order []string
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.Table {
			continue
		}
		var parts []string
		for it := e.Key(); it.Next(); {
			parts = append(parts, string(it.Node().Data))
		}
		if len(parts) >= 2 && parts[0] == "host" && !slices.Contains(order, parts[1]) {
			order = append(order, parts[1])
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("parsing hosts.toml: %w", err)
	}
	return order, nil
}

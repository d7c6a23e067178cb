package config

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/install/rootfs"

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
	// SkipVerify skips TLS certificate checks for an https mirror. Nothing
	// sets it by default.
	SkipVerify bool
	// CA, when set, is the CA file (a path on the node) that signed the
	// mirror's certificate: hosts.toml's ca for this host.
	CA string
}

// DockerCertsDir is where Docker looks for a registry's CA
// (/etc/docker/certs.d/<host:port>/ca.crt, Docker docs "Verify repository
// client with certificates"); containerd reads the same layout under its
// config_path for a host without hosts.toml (containerd docs/hosts.md,
// "Support for Docker's Certificate File Pattern").
const DockerCertsDir rootfs.Path = "/etc/docker/certs.d"

// ContainerdCAPath is where satchel installs a mirror host's CA for
// containerd: <config_path>/<host>/ca.crt, named by the mirror's hosts.toml
// entry and found by pulls that name the host directly.
func ContainerdCAPath(host string) rootfs.Path { return RegistryConfigPath.Join(host, "ca.crt") }

// DockerCAPath is where Docker finds a registry host's CA.
func DockerCAPath(host string) rootfs.Path { return DockerCertsDir.Join(host, "ca.crt") }

// validHost accepts host, host:port and [v6]:port as registries and
// mirrors name them, and nothing that could leave a directory (.., /).
var validHost = regexp.MustCompile(`^(?:[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)

func checkHost(h string) bool { return validHost.MatchString(h) && !strings.Contains(h, "..") }

// URL returns the mirror's scheme and host:port ("https", "harbor.internal").
func (m RegistryMirror) URL() (scheme, host string, err error) {
	key, _, err := m.hostKey()
	if err != nil {
		return "", "", err
	}
	u, err := url.Parse(key)
	if err != nil {
		return "", "", err
	}
	return u.Scheme, u.Host, nil
}

// HasPath reports whether the mirror serves the registry under a path
// (harbor.internal/satchel), which only hosts.toml can express.
func (m RegistryMirror) HasPath() bool {
	key, _, err := m.hostKey()
	if err != nil {
		return false
	}
	u, err := url.Parse(key)
	return err == nil && u.Path != ""
}

// ParseRegistryCA checks a CA file given for registry mirrors: PEM with
// one or more certificates and nothing else (a private key in it would be
// copied to every node).
func ParseRegistryCA(b []byte) error {
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			if len(bytes.TrimSpace(rest)) > 0 && n > 0 {
				return hintf("give a PEM file of CA certificates only", "the registry CA file has data after its certificates")
			}
			break
		}
		if blk.Type != "CERTIFICATE" {
			return hintf("give the CA certificate only (-----BEGIN CERTIFICATE-----); never hand out a private key",
				"the registry CA file holds a %q block, not only certificates", blk.Type)
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return hintf("give the CA certificate in PEM form", "the registry CA file: %v", err)
		}
		n++
	}
	if n == 0 {
		return hintf("give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)", "the registry CA file holds no PEM certificate")
	}
	return nil
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
	if reg != "_default" && !checkHost(reg) {
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
	if err != nil || u.Host == "" || !checkHost(u.Host) || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
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
		if m.CA != "" {
			h["ca"] = m.CA
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

// MirrorHosts lists the [host."…"] entries of a hosts.toml in file order
// (the order containerd tries them), for doctor's reachability check.
func MirrorHosts(b []byte) ([]string, error) {
	doc, err := parseTOML(b)
	if err != nil {
		return nil, err
	}
	hosts, _ := doc["host"].(map[string]any)
	order, err := hostOrder(b)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range order {
		if _, ok := hosts[k]; ok {
			out = append(out, k)
		}
	}
	var rest []string
	for k := range hosts {
		if !slices.Contains(out, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(out, rest...), nil
}

// IsHostsTOML reports whether p is a hosts.toml under containerd's
// registry config path (<config_path>/<registry>/hosts.toml).
func IsHostsTOML(p rootfs.Path) bool {
	return p.Base() == "hosts.toml" && p.Dir().Dir() == RegistryConfigPath
}

// Command pushaux helps test/e2e/push.sh: a test PKI, an htpasswd line,
// a TCP proxy that counts what clients send, and reading JSON by path.
//
//	pushaux pki -dir DIR -ip IP        ca.crt, server.crt, server.key for IP (ECDSA P-256, 1 day)
//	pushaux htpasswd USER              "USER:<bcrypt>" for the password on stdin
//	pushaux proxy -listen A -to B -count FILE
//	                                   forward TCP A -> B; FILE holds the bytes clients sent so far
//	pushaux json FILE PATH             print the JSON value at a dotted path (images.0.digest)
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pushaux pki|htpasswd|proxy|json ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "pki":
		err = pki(os.Args[2:])
	case "htpasswd":
		err = htpasswd(os.Args[2:])
	case "proxy":
		err = proxy(os.Args[2:])
	case "json":
		err = jsonPath(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pushaux:", err)
		os.Exit(1)
	}
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func pki(args []string) error {
	fs := flag.NewFlagSet("pki", flag.ContinueOnError)
	dir := fs.String("dir", "", "output directory")
	ip := fs.String("ip", "", "the registry's IP address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	addr := net.ParseIP(*ip)
	if *dir == "" || addr == nil {
		return errors.New("usage: pki -dir DIR -ip IP")
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "satchel e2e registry CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: *ip},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{addr},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	return errors.Join(
		writePEM(filepath.Join(*dir, "ca.crt"), "CERTIFICATE", caDER, 0o644),
		writePEM(filepath.Join(*dir, "server.crt"), "CERTIFICATE", der, 0o644),
		writePEM(filepath.Join(*dir, "server.key"), "EC PRIVATE KEY", kd, 0o600))
}

// htpasswd prints a bcrypt entry, the only hash the distribution registry
// accepts (distribution registry/auth/htpasswd/htpasswd.go).
func htpasswd(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: htpasswd USER < password")
	}
	pw, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(strings.TrimRight(string(pw), "\r\n")), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	fmt.Printf("%s:%s\n", args[0], h)
	return nil
}

// proxy forwards TCP and counts the bytes clients send (TLS included: the
// registry's certificate names the proxy's address). The count is written
// to a file whenever it changes.
func proxy(args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on")
	to := fs.String("to", "", "address to forward to")
	countFile := fs.String("count", "", "file holding the byte count")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	var up, conns atomic.Int64
	write := func() {
		tmp := *countFile + ".tmp"
		os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", up.Load(), conns.Load()), 0o644)
		os.Rename(tmp, *countFile)
	}
	write()
	go func() {
		var last int64 = -1
		for range time.Tick(50 * time.Millisecond) {
			if n := up.Load() + conns.Load()<<40; n != last {
				last = n
				write()
			}
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		conns.Add(1)
		go func() {
			defer c.Close()
			s, err := net.Dial("tcp", *to)
			if err != nil {
				return
			}
			defer s.Close()
			done := make(chan struct{})
			go func() {
				io.Copy(counter{s, &up}, c)
				s.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			io.Copy(c, s)
			c.(*net.TCPConn).CloseWrite()
			<-done
		}()
	}
}

type counter struct {
	w io.Writer
	n *atomic.Int64
}

func (c counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func jsonPath(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: json FILE PATH")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	for _, k := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return fmt.Errorf("%s: no %s", args[0], args[1])
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return fmt.Errorf("%s: %s: no element %s", args[0], args[1], k)
			}
			v = x[i]
		default:
			return fmt.Errorf("%s: %s: %q is not inside an object or list", args[0], args[1], k)
		}
	}
	if s, ok := v.(string); ok {
		fmt.Println(s)
		return nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

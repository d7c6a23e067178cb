package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrorKind says why talking to the registry failed.
type ErrorKind string

// Error kinds.
const (
	ErrUnreachable  ErrorKind = "unreachable"  // no connection: down, wrong address, name not found, timeout
	ErrTLS          ErrorKind = "tls"          // the certificate is not trusted or not for this host
	ErrPlainHTTP    ErrorKind = "plain-http"   // plain HTTP refused, or the registry speaks only HTTP
	ErrUnauthorized ErrorKind = "unauthorized" // credentials missing or refused (401)
	ErrDenied       ErrorKind = "denied"       // authenticated, but not allowed to push there (403)
	ErrRegistry     ErrorKind = "registry"     // the registry refused a request for another reason
	ErrCanceled     ErrorKind = "canceled"     // the context ended
	ErrOther        ErrorKind = "other"
)

// Error is a failed push, classified. Run returns it for every failure
// after verification; the CLI turns Kind into a remedy.
type Error struct {
	Kind     ErrorKind
	Registry string
	Err      error
	// cause is the part of Err that says why (go-containerregistry joins
	// the failures of its HTTPS and HTTP attempts).
	cause error
}

func (e *Error) Error() string {
	what := map[ErrorKind]string{
		ErrUnreachable:  "cannot reach registry %s",
		ErrTLS:          "cannot verify the TLS certificate of registry %s",
		ErrPlainHTTP:    "registry %s: refusing plain HTTP",
		ErrUnauthorized: "registry %s refused the credentials",
		ErrDenied:       "registry %s denied the push",
		ErrRegistry:     "registry %s refused the push",
		ErrCanceled:     "push to %s canceled",
	}[e.Kind]
	if what == "" {
		what = "pushing to %s"
	}
	cause := e.cause
	if cause == nil {
		cause = e.Err
	}
	if e.Kind == ErrPlainHTTP && cause == errSpeaksHTTP {
		return fmt.Sprintf("registry %s speaks plain HTTP, not HTTPS", e.Registry)
	}
	return fmt.Sprintf(what+": %v", e.Registry, cause)
}

func (e *Error) Unwrap() error { return e.Err }

// errSpeaksHTTP marks a registry that answered the HTTPS handshake in
// plain HTTP.
var errSpeaksHTTP = errors.New("the registry speaks plain HTTP")

// classify wraps an error of go-containerregistry with its kind.
func classify(err error, d Destination) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Kind: ErrOther, Registry: d.Registry, Err: err}
	var (
		plain     *PlainHTTPError
		terr      *transport.Error
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		dnsErr    *net.DNSError
		opErr     *net.OpError
	)
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		e.Kind = ErrCanceled
	case errors.As(err, &terr):
		switch terr.StatusCode {
		case http.StatusUnauthorized:
			e.Kind = ErrUnauthorized
		case http.StatusForbidden:
			e.Kind = ErrDenied
		default:
			e.Kind = ErrRegistry
		}
	case errors.As(err, &unknownCA):
		e.Kind, e.cause = ErrTLS, unknownCA
	case errors.As(err, &hostname):
		e.Kind, e.cause = ErrTLS, hostname
	case errors.As(err, &invalid):
		e.Kind, e.cause = ErrTLS, invalid
	case errors.As(err, &verifyErr):
		e.Kind, e.cause = ErrTLS, verifyErr
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		e.Kind, e.cause = ErrPlainHTTP, errSpeaksHTTP
	case errors.As(err, &opErr):
		// Before our own refusal of plain HTTP: go-containerregistry also
		// tries HTTP for loopback and private addresses, and the HTTPS
		// attempt's failure is the one that explains.
		e.Kind, e.cause = ErrUnreachable, opErr
	case errors.As(err, &dnsErr):
		e.Kind, e.cause = ErrUnreachable, dnsErr
	case errors.As(err, &plain):
		e.Kind, e.cause = ErrPlainHTTP, plain
	}
	return e
}

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
}

func (e *Error) Error() string {
	what := map[ErrorKind]string{
		ErrUnreachable:  "cannot reach registry %s",
		ErrTLS:          "cannot verify the TLS certificate of registry %s",
		ErrPlainHTTP:    "registry %s: plain HTTP",
		ErrUnauthorized: "registry %s refused the credentials",
		ErrDenied:       "registry %s denied the push",
		ErrRegistry:     "registry %s refused the push",
		ErrCanceled:     "push to %s canceled",
	}[e.Kind]
	if what == "" {
		what = "pushing to %s"
	}
	return fmt.Sprintf(what+": %v", e.Registry, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

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
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verifyErr):
		e.Kind = ErrTLS
	case errors.As(err, &plain), errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		e.Kind = ErrPlainHTTP
	case errors.As(err, &dnsErr), errors.As(err, &opErr):
		e.Kind = ErrUnreachable
	}
	return e
}

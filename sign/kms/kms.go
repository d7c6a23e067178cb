// Package kms links sigstore's KMS providers into a program, so that
// sign.LoadSigner accepts awskms://, gcpkms://, azurekms:// and
// hashivault:// key references. Import it for its side effect:
//
//	import _ "github.com/satchel-dev/satchel/sign/kms"
//
// only from programs that may talk to the network (satchel-bundle). The
// providers bring net/http and the cloud SDKs with them, which satchel-install
// must not contain; that is why they are not part of package sign, where a
// KMS reference without a linked provider fails with a hint instead.
//
// Credentials come from each provider's usual environment (AWS_REGION and the
// AWS credential chain, GOOGLE_APPLICATION_CREDENTIALS, AZURE_* variables,
// VAULT_ADDR and VAULT_TOKEN); see sigstore's pkg/signature/kms documentation.
package kms

import (
	"slices"

	sigkms "github.com/sigstore/sigstore/pkg/signature/kms"
	// Each provider registers its scheme with sigkms in an init function.
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
)

// Schemes returns the key reference prefixes of the linked providers, sorted.
func Schemes() []string {
	s := sigkms.SupportedProviders()
	slices.Sort(s)
	return s
}

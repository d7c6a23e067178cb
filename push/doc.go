// Package push copies a bundle's OCI images into a registry inside the
// secure network (Harbor, the CNCF distribution registry), so that the
// hosts there pull them through a registry mirror.
//
// Run checks the bundle first with pack.VerifyBundle (signature, index,
// layout, every blob and file digest) and contacts no registry when that
// fails. It then pushes every image by digest — index, manifests, config
// and layer blobs, streamed from the bundle — and only when every image is
// complete, their tags. Blobs and manifests the registry already has are
// skipped after a HEAD request, so pushing the same bundle twice moves
// almost nothing the second time.
//
// # Where an image goes
//
// A destination is a registry host and an optional repository prefix,
// "harbor.internal/satchel". An image keeps its repository path on its own
// registry (Docker Hub's implied "library/" spelled out) and its tag, under
// the prefix; the source registry's host is dropped:
//
//	docker.io/library/nginx:1.27.4  ->  harbor.internal/satchel/library/nginx:1.27.4
//	nginx:1.27.4                    ->  harbor.internal/satchel/library/nginx:1.27.4
//	registry.k8s.io/pause:3.10      ->  harbor.internal/satchel/pause:3.10
//	quay.io/org/app@sha256:…        ->  harbor.internal/satchel/org/app@sha256:…
//
// This is exactly what a registry mirror REGISTRY=harbor.internal/satchel
// asks for: satchel-install writes it as a containerd hosts.toml host
// https://harbor.internal/v2/satchel with override_path, so a node pulling
// docker.io/library/nginx:1.27.4 requests /v2/satchel/library/nginx/…; and
// satchel-bundle's own --registry-mirror rewrites references the same way.
// Mirrors lists the mirror settings nodes need, one per source registry.
// Two images of different registries that would land on the same
// repository and tag with different content are refused before anything
// is pushed.
//
// Only the library speaks HTTP (go-containerregistry); the installer, which
// must not link a network client, never imports this package.
package push

package plan

import (
	"fmt"
	"io"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// records plans the documents about the bundle that the host keeps beside
// its state: the SBOM the index names (read from the bundle, checked
// against its digest) and the provenance envelope. Recorded in the state
// like any file satchel writes, so a later apply replaces them and
// uninstall removes them; a bundle without them leaves none behind.
func (pl *planner) records() error {
	if d, ok := pl.ix.SBOMDigest(); ok {
		r, err := pl.in.Blobs.OpenBlob(d)
		if err != nil {
			return fmt.Errorf("reading the bundle's SBOM: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(r, manifest.MaxAttestationSize+1))
		if err != nil {
			return fmt.Errorf("reading the bundle's SBOM: %w", err)
		}
		if len(b) > manifest.MaxAttestationSize {
			return manifest.VerificationError(fmt.Errorf("the bundle's SBOM is more than %d bytes", manifest.MaxAttestationSize))
		}
		if err := pl.record(state.SBOMPath, b); err != nil {
			return err
		}
	}
	if pl.ix.HasProvenance() && len(pl.in.Provenance) > 0 {
		if err := pl.record(state.ProvenancePath, pl.in.Provenance); err != nil {
			return err
		}
	}
	return nil
}

// record plans one document: written whole when it is new or differs,
// without a diff (it is data about the bundle, not configuration).
func (pl *planner) record(p rootfs.Path, data []byte) error {
	cur, err := pl.place(p, nil)
	if err != nil {
		return err
	}
	switch cur.Kind {
	case EntryDir, EntryOther, EntrySymlink:
		return manifest.Hintf("move it aside; satchel keeps the bundle's SBOM and provenance there",
			"%s exists and is a %s", p, rootfs.TypeName(cur.Mode))
	}
	d := manifest.DigestOf(manifest.SHA256, data)
	pl.claim(Action{Kind: KindRecord, Path: p, Mode: 0o644, Digest: d, Size: int64(len(data)), OldDigest: cur.Digest,
		Change:  change(cur, cur.Kind == EntryFile && cur.Digest == d && cur.Mode.Perm() == 0o644),
		Content: Content{Kind: ContentBytes, Data: data}})
	return nil
}

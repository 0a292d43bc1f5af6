// Package image packs plugin.wasm as the OCI image that Istio's WasmPlugin pulls (`make image`).
//
// It is the "compat" variant of the Wasm image spec: an ordinary OCI image whose one layer is a
// tar.gz holding plugin.wasm. Istio documents this variant for plugin images and its pkg/wasm
// fetcher tries it first; the `application/vnd.module.wasm.*` artifact variant it takes only with
// exactly two layers (module and runtime config), so a one-layer artifact fails there. An
// ordinary image also works with any registry and image tool.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// FileName is the name Istio looks for in the layer.
	FileName = "plugin.wasm"
	// VariantAnnotation marks an OCI-typed compat image; the spec asks for it on the manifest.
	VariantAnnotation = "module.wasm.image/variant"
	// LayoutDir and TarballFile are what Write puts in its folder.
	LayoutDir   = "oci"
	TarballFile = "plugin.tar"
)

// Created is the image's and the file's time: a fixed one, so the same module gives the same digest.
var Created = time.Unix(0, 0).UTC()

// Build returns the image holding wasm as /plugin.wasm.
func Build(wasm []byte) (v1.Image, error) {
	var tarBytes bytes.Buffer
	tw := tar.NewWriter(&tarBytes)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: FileName, Mode: 0o444, Size: int64(len(wasm)), ModTime: Created}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(wasm); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}

	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	// os and architecture are required by the OCI config; these are the GOOS and GOARCH of the build.
	base, err = mutate.ConfigFile(base, &v1.ConfigFile{
		OS: "wasip1", Architecture: "wasm", Created: v1.Time{Time: Created}, RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: Created}, CreatedBy: "make image: " + FileName,
	}})
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, map[string]string{VariantAnnotation: "compat"}).(v1.Image), nil
}

// Write puts img in dir twice, replacing what was there: as the OCI layout dir/oci, whose index
// names it by tag's tag, and as the `docker save` tarball dir/plugin.tar, tagged tag.
func Write(img v1.Image, dir string, tag name.Tag) error {
	oci := filepath.Join(dir, LayoutDir)
	if err := os.RemoveAll(oci); err != nil {
		return err
	}
	p, err := layout.Write(oci, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag.TagStr(),
	})); err != nil {
		return fmt.Errorf("%s: %w", oci, err)
	}
	return tarball.WriteToFile(filepath.Join(dir, TarballFile), tag, img)
}

// Push sends img to ref as it is (same digest as the layout), with the credentials of the
// Docker config file (`docker login`, $DOCKER_CONFIG), as Istio's fetcher reads them too.
func Push(img v1.Image, ref name.Reference) error {
	return remote.Write(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain))
}

package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const wasmArtifactLayer types.MediaType = "application/vnd.module.wasm.content.layer.v1+wasm"

// TestImage packs the built plugin, writes it, and sends each form through a registry: what is
// pulled back must be what Istio accepts, holding the very bytes of build/plugin.wasm.
func TestImage(t *testing.T) {
	wasm, err := os.ReadFile(filepath.Join("..", "..", "build", "plugin.wasm"))
	if err != nil {
		t.Fatalf("%v: run make build first (make test does)", err)
	}
	img, err := Build(wasm)
	if err != nil {
		t.Fatal(err)
	}
	want := digest(t, img)
	dir := t.TempDir()
	tag := name.MustParseReference("passwordless-verify:test").(name.Tag)
	if err := Write(img, dir, tag); err != nil {
		t.Fatal(err)
	}
	host := startRegistry(t)

	t.Run("push", func(t *testing.T) {
		ref := repoTag(t, host, "push")
		if err := Push(img, ref); err != nil {
			t.Fatal(err)
		}
		pulled := pull(t, ref)
		if got := digest(t, pulled); got != want {
			t.Errorf("pulled digest %s, pushed %s", got, want)
		}
		checkImage(t, pulled, types.OCIManifestSchema1, wasm)
	})

	// As `crane push build/image/oci REF` sends it: the same manifest, so the same digest.
	t.Run("layout", func(t *testing.T) {
		idx, err := layout.ImageIndexFromPath(filepath.Join(dir, LayoutDir))
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) != 1 || m.Manifests[0].Digest != want || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "test" {
			t.Fatalf("index.json lists %+v, want only %s named test", m.Manifests, want)
		}
		limg, err := idx.Image(want)
		if err != nil {
			t.Fatal(err)
		}
		ref := repoTag(t, host, "layout")
		if err := remote.Write(ref, limg); err != nil {
			t.Fatal(err)
		}
		pulled := pull(t, ref)
		if got := digest(t, pulled); got != want {
			t.Errorf("pulled digest %s, layout has %s", got, want)
		}
		checkImage(t, pulled, types.OCIManifestSchema1, wasm)
	})

	// As `crane push build/image/plugin.tar REF` and `docker load` read it: a `docker save`
	// tarball comes out in Docker media types, which Istio takes too.
	t.Run("tarball", func(t *testing.T) {
		timg, err := tarball.ImageFromPath(filepath.Join(dir, TarballFile), &tag)
		if err != nil {
			t.Fatal(err)
		}
		ref := repoTag(t, host, "tarball")
		if err := remote.Write(ref, timg); err != nil {
			t.Fatal(err)
		}
		pulled := pull(t, ref)
		checkImage(t, pulled, types.DockerManifestSchema2, wasm)
		if got, want := layerDigest(t, pulled), layerDigest(t, img); got != want {
			t.Errorf("tarball layer %s, OCI layer %s: the same bytes should travel", got, want)
		}
	})
}

// TestDeterministic: the same module gives the same files byte for byte, another module not.
func TestDeterministic(t *testing.T) {
	tag := name.MustParseReference("passwordless-verify:test").(name.Tag)
	module := []byte("\x00asm\x01\x00\x00\x00")
	var dirs []string
	var digests []v1.Hash
	for _, wasm := range [][]byte{module, bytes.Clone(module), append(bytes.Clone(module), 0)} {
		img, err := Build(wasm)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := Write(img, dir, tag); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
		digests = append(digests, digest(t, img))
	}
	if digests[0] != digests[1] {
		t.Errorf("same module, digests %s and %s", digests[0], digests[1])
	}
	if digests[0] == digests[2] {
		t.Errorf("different modules, same digest %s", digests[0])
	}
	n := 0
	err := filepath.WalkDir(dirs[0], func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dirs[0], path)
		a, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(dirs[1], rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two writes of the same module", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// oci-layout, index.json, manifest, config, layer and the tarball.
	if n != 6 {
		t.Errorf("compared %d files, want 6", n)
	}
}

// TestIstioRulesRejectOneLayerArtifact: the check the tests above rely on refuses what Istio
// refuses, e.g. the raw module as the only layer of a Wasm artifact.
func TestIstioRulesRejectOneLayerArtifact(t *testing.T) {
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), "application/vnd.module.wasm.config.v1+json")
	img, err := mutate.AppendLayers(base, static.NewLayer(wasm, wasmArtifactLayer))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := istioModule(img); err == nil || !strings.Contains(err.Error(), "must be 2") {
		t.Errorf("one-layer artifact: got error %v, want Istio's layer count refusal", err)
	}
}

// checkImage checks img is the compat image in manifest media type mt and holds wasm.
func checkImage(t *testing.T, img v1.Image, mt types.MediaType, wasm []byte) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	wantConfig, wantLayer := types.OCIConfigJSON, types.OCILayer
	if mt == types.DockerManifestSchema2 {
		wantConfig, wantLayer = types.DockerConfigJSON, types.DockerLayer
	} else if m.Annotations[VariantAnnotation] != "compat" {
		t.Errorf("manifest annotations %v, want %s=compat", m.Annotations, VariantAnnotation)
	}
	if m.MediaType != mt || m.Config.MediaType != wantConfig {
		t.Errorf("manifest %s, config %s; want %s, %s", m.MediaType, m.Config.MediaType, mt, wantConfig)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != wantLayer {
		t.Fatalf("layers %+v, want one %s", m.Layers, wantLayer)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	diffID, err := layers[0].DiffID()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "wasip1" || cfg.Architecture != "wasm" || !cfg.Created.Equal(Created) ||
		cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != diffID {
		t.Errorf("config %+v: want wasip1/wasm, created %s, rootfs layers [%s]", cfg, Created, diffID)
	}
	got, err := istioModule(img)
	if err != nil {
		t.Fatalf("Istio would refuse the image: %v", err)
	}
	if !bytes.Equal(got, wasm) {
		t.Errorf("the image's %s (%d bytes, sha256 %x) is not the module (%d bytes, sha256 %x)",
			FileName, len(got), sha256.Sum256(got), len(wasm), sha256.Sum256(wasm))
	}
}

// istioModule gets the module out of img by the rules of Istio's pkg/wasm/imagefetcher.go: a
// Docker manifest needs its last layer to be a Docker tar.gz; otherwise an OCI tar+gzip last
// layer is tried (compat), then the artifact variant, which needs exactly two layers.
func istioModule(img v1.Image) ([]byte, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) == 0 {
		return nil, errors.New("no layers")
	}
	last := layers[len(layers)-1]
	mt, err := last.MediaType()
	if err != nil {
		return nil, err
	}
	if m.MediaType == types.DockerManifestSchema2 {
		if mt != types.DockerLayer {
			return nil, fmt.Errorf("docker image: last layer is %s", mt)
		}
		return moduleFromTarGz(last)
	}
	if mt == types.OCILayer {
		return moduleFromTarGz(last)
	}
	if len(layers) != 2 {
		return nil, fmt.Errorf("compat: last layer is %s; artifact: number of layers must be 2 but got %d", mt, len(layers))
	}
	for _, l := range layers {
		if mt, err := l.MediaType(); err == nil && mt == wasmArtifactLayer {
			rc, err := l.Compressed()
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return io.ReadAll(rc)
		}
	}
	return nil, fmt.Errorf("artifact: no %s layer", wasmArtifactLayer)
}

// moduleFromTarGz reads plugin.wasm from the layer's compressed bytes, as Istio does; the entry
// must also carry the fixed time and root ownership that keep the layer reproducible.
func moduleFromTarGz(l v1.Layer) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	gz, err := gzip.NewReader(rc)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New(FileName + " not in the layer")
		}
		if err != nil {
			return nil, err
		}
		if filepath.Base(h.Name) == FileName {
			if !h.ModTime.Equal(Created) || h.Uid != 0 || h.Gid != 0 {
				return nil, fmt.Errorf("%s: time %s, owner %d:%d", h.Name, h.ModTime, h.Uid, h.Gid)
			}
			return io.ReadAll(tr)
		}
	}
}

func startRegistry(t *testing.T) string {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func repoTag(t *testing.T, host, tag string) name.Tag {
	t.Helper()
	ref, err := name.NewTag(host + "/passwordless-verify:" + tag)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func pull(t *testing.T, ref name.Reference) v1.Image {
	t.Helper()
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func layerDigest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

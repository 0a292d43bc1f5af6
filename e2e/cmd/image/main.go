// Command image writes the OCI image of plugin.wasm that Istio's WasmPlugin pulls (`make image`):
// an OCI layout in OUT/oci and a `docker save` tarball OUT/plugin.tar, and pushes it with -push.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/passwordless-verify/filter/e2e/image"
)

func main() {
	wasmPath := flag.String("wasm", "build/plugin.wasm", "the module to pack")
	out := flag.String("out", "build/image", "folder for the layout ("+image.LayoutDir+") and the tarball ("+image.TarballFile+")")
	tagName := flag.String("tag", "passwordless-verify:dev", "name of the image in the layout and the tarball")
	push := flag.String("push", "", "also push the image to this reference, e.g. REGISTRY/passwordless-verify:TAG")
	flag.Parse()
	log.SetFlags(0)

	tag, err := name.NewTag(*tagName)
	if err != nil {
		log.Fatalf("-tag: %v", err)
	}
	var ref name.Reference
	if *push != "" {
		if ref, err = name.ParseReference(*push); err != nil {
			log.Fatalf("-push: %v", err)
		}
	}
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		log.Fatalf("%v (make build writes it)", err)
	}
	img, err := image.Build(wasm)
	if err != nil {
		log.Fatal(err)
	}
	if err := image.Write(img, *out, tag); err != nil {
		log.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		log.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		log.Fatal(err)
	}
	layerSize, err := layers[0].Size()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s and %s: %s %s (%s %d bytes, layer %d bytes)\n",
		filepath.Join(*out, image.LayoutDir), filepath.Join(*out, image.TarballFile), tag, digest, *wasmPath, len(wasm), layerSize)
	if ref != nil {
		if err := image.Push(img, ref); err != nil {
			log.Fatalf("push %s: %v", ref, err)
		}
		fmt.Printf("pushed %s@%s\n", ref.Context(), digest)
	}
}

// Command badimport is a guest that imports what the host must refuse: a proxy-wasm call it
// does not implement (gRPC) and a WASI function Envoy does not register.
package main

import "unsafe"

//go:wasmimport env proxy_grpc_call
func grpcCall(svc *byte, svcLen uint32, name *byte, nameLen uint32, method *byte, methodLen uint32,
	md *byte, mdLen uint32, msg *byte, msgLen uint32, timeout uint32, token *uint32) uint32

//go:wasmimport wasi_snapshot_preview1 fd_readdir
func fdReaddir(fd int32, buf *byte, bufLen uint32, cookie uint64, n *uint32) uint32

//go:wasmexport proxy_abi_version_0_2_0
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func alloc(size uint32) unsafe.Pointer { return unsafe.Pointer(&make([]byte, size+1)[0]) }

//go:wasmexport proxy_on_tick
func onTick(uint32) {
	var token, n uint32
	grpcCall(nil, 0, nil, 0, nil, 0, nil, 0, nil, 0, 0, &token)
	fdReaddir(3, nil, 0, 0, &n)
}

func main() {}

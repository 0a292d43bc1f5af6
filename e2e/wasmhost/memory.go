package wasmhost

import (
	"math"

	"github.com/tetratelabs/wazero/api"
)

// read copies size bytes at ptr out of guest memory. The copy matters: calling back into the
// guest (to allocate) may grow and move linear memory under a view.
func (c *hostCall) read(ptr, size uint32) ([]byte, bool) {
	if size == 0 {
		return []byte{}, true
	}
	b, ok := c.mod.Memory().Read(ptr, size)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

func (c *hostCall) readString(ptr, size uint32) (string, bool) {
	b, ok := c.read(ptr, size)
	return string(b), ok
}

// size32 is a length as the guest's 32-bit ABI carries it. Guest memory is at most 4 GiB, so
// nothing longer can be copied in: a larger length saturates and the copy then fails.
func size32(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case n > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(n)
}

func (c *hostCall) putU32(ptr, v uint32) bool { return c.mod.Memory().WriteUint32Le(ptr, v) }

func (c *hostCall) putU64(ptr uint32, v uint64) bool { return c.mod.Memory().WriteUint64Le(ptr, v) }

// out returns data to the guest the ABI way: allocate with the guest's
// proxy_on_memory_allocate, copy, then store pointer and size in the two out slots. Empty data
// is returned as (0, 0) without allocating, as cpp-host's copyToPointerSize does.
func (c *hostCall) out(data []byte, ptrPtr, sizePtr uint32) uint32 {
	var ptr uint32
	if len(data) > 0 {
		alloc := c.vm.fnAlloc
		if alloc == nil {
			return statusInvalidMemoryAccess
		}
		res, err := alloc.Call(c.ctx, uint64(len(data)))
		if err != nil {
			// The guest trapped while allocating: unwind the whole call so the VM fails.
			panic(err)
		}
		ptr = api.DecodeU32(res[0])
		if ptr == 0 || !c.mod.Memory().Write(ptr, data) {
			return statusInvalidMemoryAccess
		}
	}
	if !c.putU32(ptrPtr, ptr) || !c.putU32(sizePtr, size32(len(data))) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

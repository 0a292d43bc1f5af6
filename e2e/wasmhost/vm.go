package wasmhost

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Config is what Envoy's wasm filter config gives one VM.
type Config struct {
	PluginConfig []byte             // "configuration" of the plugin (buffer type 7, only during start/configure)
	VMConfig     []byte             // vm_config.configuration (buffer type 6)
	Clusters     map[string]Cluster // callout targets by cluster name
	Shared       *SharedData        // nil: private to this VM
	Stats        *Stats             // nil: private to this VM
	Log          func(level LogLevel, msg string)
	RootID       string            // root_id (property plugin_root_id)
	VMID         string            // vm_id: partitions SharedData (property plugin_vm_id)
	PluginName   string            // property plugin_name; default RootID
	Env          map[string]string // vm_config.environment_variables
	// BufferLimit is how much request body Envoy buffers for a stopped filter before it answers
	// 413 itself (per_connection_buffer_limit_bytes). 0 means Envoy's default 1 MiB; <0 none.
	BufferLimit int
	// DisallowOnHeadersStopIteration models Envoy without allow_on_headers_stop_iteration:
	// StopIteration from a headers callback becomes StopAllIterationAndWatermark, so no body
	// callback runs until the filter continues. The product requires the flag set (the default
	// here), so use this only to show what breaks without it.
	DisallowOnHeadersStopIteration bool
}

const defaultBufferLimit = 1 << 20

// ErrPluginStart wraps the error NewVM returns when proxy_on_configure returns false.
var ErrPluginStart = errors.New("wasmhost: plugin failed to start")

// ErrVMFailed wraps every error caused by a guest trap; after one, the VM is dead.
var ErrVMFailed = errors.New("wasmhost: VM failed")

// maxLogs bounds the in-memory log so benchmarks do not grow without limit.
const maxLogs = 10000

type vmKey struct{}

func vmFrom(ctx context.Context) *VM {
	vm, _ := ctx.Value(vmKey{}).(*VM)
	return vm
}

type phase int

const (
	phaseInit    phase = iota // _initialize: restricted imports
	phaseStart                // root context start/configure
	phaseRunning              // serving streams
	phaseClosed
)

// pctx is a proxy-wasm context as the host tracks it: the root context or a stream.
type pctx struct {
	id     uint32
	stream *Stream // nil for the root context
}

// VM is one instance of the module, like one Envoy worker's VM: single-threaded (every guest
// call holds mu), with a root context created at start. Several VMs may run in parallel.
type VM struct {
	mod    *Module
	cfg    Config
	inst   api.Module
	ctx    context.Context // lives until Close; parents callouts
	cancel context.CancelFunc
	stats  *Stats
	shared *SharedData

	fnAlloc, fnContextCreate, fnVMStart, fnConfigure, fnRequestHeaders, fnRequestBody,
	fnRequestTrailers, fnResponseHeaders, fnResponseBody, fnHTTPCallResponse, fnTick, fnLog,
	fnDone, fnDelete api.Function

	mu       sync.Mutex
	phase    phase
	rootID   uint32
	nextID   uint32
	contexts map[uint32]*pctx
	cur, eff uint32 // context of the running callback; effective context set by the guest
	depth    int
	stopNext bool                    // a local reply was sent during this callback: force a stop
	after    []func(context.Context) // Envoy's "after VM call" actions: run when the callback returns
	draining bool

	pluginCfgVisible bool
	callResp         *CalloutResponse // set while proxy_on_http_call_response runs
	callRespHdrs     *headerMap
	callRespTrls     *headerMap
	nextToken        uint32
	pending          map[uint32]*callout
	inflight         sync.WaitGroup

	qmu    sync.Mutex
	queued []*callout
	signal chan struct{} // closed (and replaced) whenever a callout completes

	metrics    map[uint32]metricRef
	nextMetric [3]uint32

	tickPeriod time.Duration
	tickStop   chan struct{}

	pendingDone, doneCalled bool

	errMu sync.Mutex
	err   error

	logMu      sync.Mutex
	logs       []LogEntry
	lastErrLog string
	stderrTail []string
	stdout     *logWriter
	stderr     *logWriter
}

// NewVM instantiates the module and starts it the way Envoy does: _initialize (with imports
// restricted), then proxy_on_context_create(root, 0), proxy_on_vm_start and
// proxy_on_configure. A false from proxy_on_configure yields an error wrapping ErrPluginStart
// that quotes the plugin's last error or critical log line.
func (m *Module) NewVM(ctx context.Context, cfg Config) (*VM, error) {
	vm := &VM{
		mod:      m,
		cfg:      cfg,
		stats:    cfg.Stats,
		shared:   cfg.Shared,
		contexts: map[uint32]*pctx{},
		nextID:   1,
		pending:  map[uint32]*callout{},
		signal:   make(chan struct{}),
		metrics:  map[uint32]metricRef{},
	}
	if vm.stats == nil {
		vm.stats = NewStats()
	}
	if vm.shared == nil {
		vm.shared = NewSharedData()
	}
	if vm.cfg.PluginName == "" {
		vm.cfg.PluginName = cfg.RootID
	}
	vm.stdout = &logWriter{vm: vm, level: LogInfo}
	vm.stderr = &logWriter{vm: vm, level: LogError}
	vm.ctx, vm.cancel = context.WithCancel(context.Background())

	mc := wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithSysNanotime().WithSysWalltime().WithSysNanosleep(). // Go's GC misbehaves on fake clocks
		WithRandSource(crand.Reader).WithStdout(vm.stdout).WithStderr(vm.stderr)
	envKeys := make([]string, 0, len(cfg.Env))
	for k := range cfg.Env {
		envKeys = append(envKeys, k)
	}
	sort.Strings(envKeys)
	for _, k := range envKeys {
		mc = mc.WithEnv(k, cfg.Env[k])
	}
	inst, err := m.rt.InstantiateModule(ctx, m.compiled, mc)
	if err != nil {
		vm.cancel()
		return nil, fmt.Errorf("wasmhost: instantiate: %w", err)
	}
	vm.inst = inst
	for name, fn := range map[string]*api.Function{
		"proxy_on_memory_allocate": &vm.fnAlloc, "proxy_on_context_create": &vm.fnContextCreate,
		"proxy_on_vm_start": &vm.fnVMStart, "proxy_on_configure": &vm.fnConfigure,
		"proxy_on_request_headers": &vm.fnRequestHeaders, "proxy_on_request_body": &vm.fnRequestBody,
		"proxy_on_request_trailers": &vm.fnRequestTrailers, "proxy_on_response_headers": &vm.fnResponseHeaders,
		"proxy_on_response_body": &vm.fnResponseBody, "proxy_on_http_call_response": &vm.fnHTTPCallResponse,
		"proxy_on_tick": &vm.fnTick, "proxy_on_log": &vm.fnLog, "proxy_on_done": &vm.fnDone,
		"proxy_on_delete": &vm.fnDelete,
	} {
		*fn = inst.ExportedFunction(name)
	}

	vm.mu.Lock()
	defer vm.mu.Unlock()
	if err := vm.start(ctx); err != nil {
		vm.shutdown()
		return nil, err
	}
	return vm, nil
}

func (vm *VM) start(ctx context.Context) error {
	vm.phase = phaseInit
	entry := "_initialize"
	if !vm.mod.hasInit && vm.mod.hasStart {
		entry = "_start" // a WASI command: Envoy runs it instead
	}
	if fn := vm.inst.ExportedFunction(entry); fn != nil {
		if _, err := vm.invoke(ctx, entry, 0, fn); err != nil {
			return err
		}
	}
	vm.phase = phaseStart
	vm.rootID = vm.newContext(nil).id
	if _, err := vm.invoke(ctx, "proxy_on_context_create", vm.rootID, vm.fnContextCreate, uint64(vm.rootID), 0); err != nil {
		return err
	}
	vm.pluginCfgVisible = true
	defer func() { vm.pluginCfgVisible = false }()
	ok, err := vm.invokeBool(ctx, "proxy_on_vm_start", vm.fnVMStart, uint64(len(vm.cfg.VMConfig)))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("wasmhost: VM failed to start: proxy_on_vm_start returned false%s", vm.lastErrorSuffix())
	}
	ok, err = vm.invokeBool(ctx, "proxy_on_configure", vm.fnConfigure, uint64(len(vm.cfg.PluginConfig)))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: proxy_on_configure returned false%s", ErrPluginStart, vm.lastErrorSuffix())
	}
	vm.phase = phaseRunning
	return nil
}

// invokeBool calls a root-context callback returning a bool; a missing export counts as true.
func (vm *VM) invokeBool(ctx context.Context, name string, fn api.Function, arg uint64) (bool, error) {
	if fn == nil {
		return true, nil
	}
	res, err := vm.invoke(ctx, name, vm.rootID, fn, uint64(vm.rootID), arg)
	vm.runAfter(ctx)
	if err != nil {
		return false, err
	}
	return api.DecodeU32(res) != 0, nil
}

func (vm *VM) lastErrorSuffix() string {
	vm.logMu.Lock()
	defer vm.logMu.Unlock()
	if vm.lastErrLog == "" {
		return " (the plugin logged no error)"
	}
	return "; last error log: " + vm.lastErrLog
}

func (vm *VM) newContext(s *Stream) *pctx {
	id := vm.nextID
	vm.nextID++
	c := &pctx{id: id, stream: s}
	vm.contexts[id] = c
	return c
}

// active is the context host calls act on: the effective context the guest selected with
// proxy_set_effective_context, else the one whose callback is running (nil during _initialize).
func (vm *VM) active() *pctx {
	if vm.eff != 0 {
		if c, ok := vm.contexts[vm.eff]; ok {
			return c
		}
	}
	return vm.contexts[vm.cur]
}

func (vm *VM) activeStream() *Stream {
	if c := vm.active(); c != nil {
		return c.stream
	}
	return nil
}

// invoke calls one guest export as context cid. A missing export is a no-op returning 0.
// Any error from the guest (trap, proc_exit, a forbidden import) kills the VM.
func (vm *VM) invoke(ctx context.Context, name string, cid uint32, fn api.Function, args ...uint64) (uint64, error) {
	if err := vm.Err(); err != nil {
		return 0, err
	}
	if fn == nil {
		return 0, nil
	}
	savedCur, savedEff := vm.cur, vm.eff
	vm.cur, vm.eff = cid, 0
	if vm.depth == 0 {
		vm.logMu.Lock()
		vm.stderrTail = vm.stderrTail[:0]
		vm.logMu.Unlock()
	}
	vm.depth++
	res, err := fn.Call(context.WithValue(ctx, vmKey{}, vm), args...)
	vm.depth--
	vm.cur, vm.eff = savedCur, savedEff
	if err != nil {
		vm.fail(name, err)
		return 0, vm.Err()
	}
	if len(res) == 0 {
		return 0, nil
	}
	return res[0], nil
}

// fail records the trap and closes the instance: like Envoy, a failed VM serves no more calls.
func (vm *VM) fail(where string, err error) {
	vm.stdout.flush()
	vm.stderr.flush()
	var rc *restrictedCall
	if errors.As(err, &rc) {
		err = rc
	}
	vm.logMu.Lock()
	tail := ""
	if len(vm.stderrTail) > 0 {
		tail = "; guest stderr: " + strings.Join(vm.stderrTail, " | ")
	}
	vm.logMu.Unlock()
	vm.errMu.Lock()
	if vm.err == nil {
		vm.err = fmt.Errorf("%w in %s: %w%s", ErrVMFailed, where, err, tail)
	}
	vm.errMu.Unlock()
	vm.after = nil
	vm.stopTicks()
	vm.cancel()
	_ = vm.inst.Close(context.Background())
}

// checkInit enforces Envoy's restricted-callback list while _initialize runs.
func (vm *VM) checkInit(name string) {
	if vm.phase == phaseInit && !initAllowed[name] {
		panic(&restrictedCall{name: name})
	}
}

// Err is non-nil once the VM has failed (a trap, proc_exit, or a forbidden import). Every
// later call returns it.
func (vm *VM) Err() error {
	vm.errMu.Lock()
	defer vm.errMu.Unlock()
	return vm.err
}

// deferAfter runs fn once the current top-level callback has returned (Envoy defers local replies,
// continue/close stream and similar until the VM call is over).
func (vm *VM) deferAfter(fn func(context.Context)) { vm.after = append(vm.after, fn) }

// runAfter runs the deferred actions; actions they queue run too, in order.
func (vm *VM) runAfter(ctx context.Context) {
	vm.stopNext = false
	if vm.draining {
		return
	}
	vm.draining = true
	defer func() { vm.draining = false }()
	for len(vm.after) > 0 && vm.Err() == nil {
		fn := vm.after[0]
		vm.after = vm.after[1:]
		fn(ctx)
	}
	vm.after = nil
}

// queue hands a finished callout to the VM; it is delivered at the next pump.
func (vm *VM) queue(c *callout) {
	vm.qmu.Lock()
	vm.queued = append(vm.queued, c)
	close(vm.signal)
	vm.signal = make(chan struct{})
	vm.qmu.Unlock()
}

// wakeup returns a channel closed when the next callout completes.
func (vm *VM) wakeup() <-chan struct{} {
	vm.qmu.Lock()
	defer vm.qmu.Unlock()
	return vm.signal
}

// pump delivers every completed callout to the root context, in completion order. Envoy
// delivers on the worker's event loop; here the host decides when, so a callback never races
// another one. Caller holds mu.
func (vm *VM) pump(ctx context.Context) {
	vm.qmu.Lock()
	ready := vm.queued
	vm.queued = nil
	vm.qmu.Unlock()
	for _, c := range ready {
		vm.deliver(ctx, c)
	}
}

func (vm *VM) deliver(ctx context.Context, c *callout) {
	if _, ok := vm.pending[c.token]; !ok {
		return
	}
	delete(vm.pending, c.token)
	c.rec.Response, c.rec.Err, c.rec.Duration = c.res, c.err, c.dur
	if vm.Err() != nil || vm.phase == phaseClosed {
		vm.record(c)
		return
	}
	var nh, nb, nt int
	if c.res != nil {
		vm.callResp = c.res
		vm.callRespHdrs = newHeaderMap(c.res.Headers)
		vm.callRespTrls = nil
		if len(c.res.Trailers) > 0 {
			vm.callRespTrls = newHeaderMap(c.res.Trailers)
		}
		nh, nb, nt = vm.callRespHdrs.len(), len(c.res.Body), vm.callRespTrls.len()
	}
	c.rec.Delivered = true
	vm.record(c)
	_, _ = vm.invoke(ctx, "proxy_on_http_call_response", vm.rootID, vm.fnHTTPCallResponse,
		uint64(vm.rootID), uint64(c.token), uint64(nh), uint64(nb), uint64(nt))
	vm.runAfter(ctx)
	vm.callResp, vm.callRespHdrs, vm.callRespTrls = nil, nil, nil
}

func (vm *VM) record(c *callout) {
	if c.stream != nil {
		c.stream.calloutsDone = append(c.stream.calloutsDone, c.rec)
	}
}

// ticks: Envoy fires proxy_on_tick on the worker's dispatcher; here a goroutine takes the VM
// lock, so ticks interleave with (but never overlap) other callbacks.
func (vm *VM) setTickPeriod(d time.Duration) {
	vm.stopTicks()
	vm.tickPeriod = d
	if d <= 0 {
		return
	}
	stop := make(chan struct{})
	vm.tickStop = stop
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			vm.mu.Lock()
			select {
			case <-stop:
				vm.mu.Unlock()
				return
			default:
			}
			if vm.Err() == nil && vm.phase == phaseRunning {
				_, _ = vm.invoke(vm.ctx, "proxy_on_tick", vm.rootID, vm.fnTick, uint64(vm.rootID))
				vm.runAfter(vm.ctx)
				vm.pump(vm.ctx)
			}
			vm.mu.Unlock()
		}
	}()
}

func (vm *VM) stopTicks() {
	if vm.tickStop != nil {
		close(vm.tickStop)
		vm.tickStop = nil
	}
}

// Close shuts the VM down like Envoy: proxy_on_done(root); if the plugin answers false it may
// finish asynchronously and call proxy_done (Close waits for that, delivering callouts, until
// ctx ends); then proxy_on_delete(root). Pending callouts are cancelled and the instance closed.
func (vm *VM) Close(ctx context.Context) error {
	vm.mu.Lock()
	if vm.phase == phaseClosed {
		vm.mu.Unlock()
		return nil
	}
	if vm.Err() == nil && vm.rootID != 0 {
		res, err := vm.invoke(ctx, "proxy_on_done", vm.rootID, vm.fnDone, uint64(vm.rootID))
		vm.runAfter(ctx)
		if err == nil && vm.fnDone != nil && api.DecodeU32(res) == 0 {
			vm.pendingDone = true
			vm.waitDone(ctx)
		}
		_, _ = vm.invoke(ctx, "proxy_on_delete", vm.rootID, vm.fnDelete, uint64(vm.rootID))
		vm.runAfter(ctx)
	}
	vm.shutdown()
	vm.mu.Unlock()
	vm.inflight.Wait()
	return nil
}

// waitDone waits, with mu held on entry and exit, for the guest to call proxy_done.
func (vm *VM) waitDone(ctx context.Context) {
	for !vm.doneCalled && vm.Err() == nil {
		wake := vm.wakeup()
		vm.pump(ctx)
		if vm.doneCalled || (len(vm.pending) == 0 && vm.tickStop == nil) {
			return
		}
		vm.mu.Unlock()
		select {
		case <-wake:
		case <-time.After(10 * time.Millisecond): // ticks may call proxy_done too
		case <-ctx.Done():
			vm.mu.Lock()
			return
		}
		vm.mu.Lock()
	}
}

func (vm *VM) shutdown() {
	vm.phase = phaseClosed
	vm.stopTicks()
	vm.cancel()
	vm.stdout.flush()
	vm.stderr.flush()
	if vm.inst != nil {
		_ = vm.inst.Close(context.Background())
	}
}

func (vm *VM) addLog(level LogLevel, msg string) {
	vm.logMu.Lock()
	if len(vm.logs) >= maxLogs {
		vm.logs = append(vm.logs[:0], vm.logs[len(vm.logs)-maxLogs/2:]...)
	}
	vm.logs = append(vm.logs, LogEntry{Level: level, Msg: msg})
	if level >= LogError {
		vm.lastErrLog = msg
	}
	vm.logMu.Unlock()
	if vm.cfg.Log != nil {
		vm.cfg.Log(level, msg)
	}
}

func (vm *VM) noteStderr(line string) {
	vm.logMu.Lock()
	if len(vm.stderrTail) < 8 {
		vm.stderrTail = append(vm.stderrTail, line)
	}
	vm.logMu.Unlock()
}

// Logs returns the log lines kept so far (the most recent few thousand).
func (vm *VM) Logs() []LogEntry {
	vm.logMu.Lock()
	defer vm.logMu.Unlock()
	return append([]LogEntry(nil), vm.logs...)
}

// Metrics snapshots the VM's metric store (shared with other VMs if Config.Stats was).
func (vm *VM) Metrics() map[string]Metric { return vm.stats.Snapshot() }

// DeliverCallouts waits for every callout in flight (including those made by the root
// context, e.g. from proxy_on_tick) and delivers them.
func (vm *VM) DeliverCallouts(ctx context.Context) error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.pumpUntil(ctx, func() bool { return len(vm.pending) == 0 })
}

// pumpUntil delivers completed callouts until done holds or the VM dies, sleeping between
// deliveries without holding vm.mu. It returns the VM's error, or ctx's.
func (vm *VM) pumpUntil(ctx context.Context, done func() bool) error {
	for {
		wake := vm.wakeup()
		vm.pump(ctx)
		if vm.Err() != nil || done() {
			return vm.Err()
		}
		vm.mu.Unlock()
		select {
		case <-wake:
			vm.mu.Lock()
		case <-ctx.Done():
			vm.mu.Lock()
			return ctx.Err()
		}
	}
}

// MemoryBytes is the size of the guest's linear memory: what the VM costs Envoy, since wasm
// memory only grows.
func (vm *VM) MemoryBytes() uint32 {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.inst.Memory().Size()
}

// CallExport calls an export of the guest's that takes no arguments, outside any request (a
// count a measuring build exports, say), and returns its first result.
func (vm *VM) CallExport(ctx context.Context, name string) (uint64, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	fn := vm.inst.ExportedFunction(name)
	if fn == nil {
		return 0, errors.New("wasmhost: the guest exports no " + name)
	}
	return vm.invoke(ctx, name, vm.rootID, fn)
}

// Package wasmhost is a proxy-wasm (ABI 0.2.x) host on wazero that behaves like Envoy's wasm
// HTTP filter (Envoy >= 1.35, proxy-wasm-cpp-host as it ships there) wherever the
// passwordless verify filter depends on it. Tests, the local runner and benchmarks share it.
//
// Compile a module once (Compile), start one VM per simulated worker (Module.NewVM), and run
// requests with VM.Do, or step through a stream with VM.NewStream, Stream.SendHeaders,
// SendBody, SendTrailers, Wait and Finish.
//
// Modelled after Envoy:
//   - Start: _initialize with Envoy's restricted-import list (any other import fails the VM),
//     then proxy_on_context_create(root, 0), proxy_on_vm_start, proxy_on_configure (false is
//     ErrPluginStart, quoting the plugin's last error log). Plugin configuration is readable
//     only while the plugin starts; VM configuration always.
//   - Linking: only the proxy_* calls implemented here and the WASI functions Envoy registers
//     (EnvoyWASI); anything else fails Compile, naming it.
//   - Streams with allow_on_headers_stop_iteration: body callbacks run while headers are
//     stopped; StopIterationAndBuffer makes the next callback see (and get_buffer_bytes return)
//     everything buffered; nothing goes upstream until a callback returns Continue or the
//     filter calls proxy_continue_stream. Watermark, NoBuffer, StopAll* (held data is handed
//     over on continue), ContinueAndEndStream, trailers, and Envoy's 413 past BufferLimit.
//   - Map and buffer availability: request headers stop being readable once they continue,
//     get on an unavailable map is BadArgument (NotFound in proxy_on_log), Envoy's copyFrom
//     rules for proxy_set_buffer_bytes, setCopy (replace all) for replace.
//   - Local replies are deferred to the end of the callback, force the returned action to
//     stop, go through the filter's own response callbacks, carry content-length and a default
//     text/plain content-type, and have whitespace in details replaced by '_'. No request
//     callback follows; proxy_on_log, proxy_on_done and proxy_on_delete still run.
//   - Callouts are made on the root context, checked (cluster, :method, :path, :authority),
//     run asynchronously with Envoy's timeout, and delivered to the root context; a failure
//     is 0 headers. A callout outliving its stream is delivered after the stream's delete.
//   - Shared data with process-wide CAS, partitioned by vm_id; metrics with Envoy's id and
//     status rules, in a store VMs may share; ticks; effective context; proxy_done.
//   - A trap (panic, proc_exit, forbidden import) fails the VM for good; the stream in flight
//     gets Envoy's fail-closed 503 (wasm_fail_stream).
//
// Knowingly not modelled: the upstream and its response (Result reports what left the filter,
// before the router adds its own headers); response header/body callbacks except for local
// replies; Envoy's merging of repeated inline headers; HEAD/gRPC local reply rewriting; shared
// queues, gRPC calls, foreign functions (all NotFound or refused at Compile), proxy_get_status
// and ABI 0.1; the restricted import list during proxy_on_memory_allocate; per-call CPU limits.
// WASI calls are wazero's implementations (real clocks and sleep), not cpp-host's stubs.
//
// Callout responses are delivered only when the host waits (Stream.Wait, Finish, Do,
// VM.DeliverCallouts, ticks), never in the middle of feeding a request, so tests are
// deterministic; Envoy would deliver whenever its event loop gets the response.
package wasmhost

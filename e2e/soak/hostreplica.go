package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/passwordless-verify/filter/e2e/envoyrun"
	"github.com/passwordless-verify/filter/e2e/local"
	"github.com/passwordless-verify/filter/e2e/wasmhost"
)

// hostVMID partitions the host replica's shared data, as Envoy's vm_id does.
const hostVMID = "passwordless_verify"

// hostReplica is plugin.wasm in our proxy-wasm host (e2e/wasmhost) behind e2e/local's front:
// a replica whose shared data the soak can count, which Envoy shows nowhere.
type hostReplica struct {
	url    string
	shared *wasmhost.SharedData
	module *wasmhost.Module
	vms    []*wasmhost.VM
	srv    *http.Server
}

// clusters are the cluster names the plugin calls, with their base URLs.
func startHostReplica(ctx context.Context, wasmPath string, workers int, cfg []byte, clusters map[string]string, upstreamURL string, log io.Writer) (_ *hostReplica, err error) {
	if wasmPath == "" {
		root, err := envoyrun.Root()
		if err != nil {
			return nil, err
		}
		wasmPath = filepath.Join(root, "build", "plugin.wasm")
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return nil, err
	}
	h := &hostReplica{shared: wasmhost.NewSharedData()}
	defer func() {
		if err != nil {
			_ = h.close(context.Background())
		}
	}()
	if h.module, err = wasmhost.Compile(ctx, wasm); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	stats := wasmhost.NewStats()
	hosts := map[string]wasmhost.Cluster{}
	for name, u := range clusters {
		hosts[name] = wasmhost.HTTPCluster(u)
	}
	for i := range workers {
		vm, err := h.module.NewVM(ctx, wasmhost.Config{
			PluginConfig: cfg, Clusters: hosts, Shared: h.shared, Stats: stats,
			RootID: "passwordless_verify", VMID: hostVMID,
			Log: func(level wasmhost.LogLevel, msg string) {
				mu.Lock()
				defer mu.Unlock()
				_, _ = fmt.Fprintf(log, "[worker %d][%s] %s\n", i, level, msg)
			},
		})
		if err != nil {
			return nil, fmt.Errorf("host replica, worker %d: %w", i, err)
		}
		h.vms = append(h.vms, vm)
	}
	front, err := local.NewFront(h.vms, upstreamURL, slog.New(slog.NewTextHandler(log, nil)), log)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h.url = "http://" + l.Addr().String()
	h.srv = &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.srv.Serve(l) }()
	return h, nil
}

// sharedData is the host replica's shared data: how many entries, how many bytes.
func (h *hostReplica) sharedData() (entries, bytes int) {
	for _, k := range h.shared.Keys(hostVMID) {
		v, _, _ := h.shared.Get(hostVMID, k)
		entries++
		bytes += len(k) + len(v)
	}
	return entries, bytes
}

func (h *hostReplica) close(ctx context.Context) error {
	var errs []error
	if h.srv != nil {
		errs = append(errs, h.srv.Close())
	}
	for _, vm := range h.vms {
		errs = append(errs, vm.Close(ctx))
	}
	if h.module != nil {
		errs = append(errs, h.module.Close(ctx))
	}
	return errors.Join(errs...)
}

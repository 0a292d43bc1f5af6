package wasmhost

import (
	"context"
	"errors"
	"testing"
)

func benchConfig() Config {
	return Config{
		PluginConfig: []byte(specConfig),
		RootID:       "passwordless_verify",
		Clusters: map[string]Cluster{"userstore": ClusterFunc(func(context.Context, *CalloutRequest) (*CalloutResponse, error) {
			return nil, errors.New("unused")
		})},
	}
}

// BenchmarkNewVM: instantiate build/plugin.wasm and start it (what Envoy does per worker).
func BenchmarkNewVM(b *testing.B) {
	m := module(b, "plugin")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		vm, err := m.NewVM(ctx, benchConfig())
		if err != nil {
			b.Fatal(err)
		}
		_ = vm.Close(ctx)
	}
}

// BenchmarkDo: one verify request the filter answers locally (no tenant: 400 bad.tenant).
func BenchmarkDo(b *testing.B) {
	m := module(b, "plugin")
	ctx := context.Background()
	vm, err := m.NewVM(ctx, benchConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer vm.Close(ctx)
	req := Request{Method: "POST", Path: "/passwordless/verify", Headers: [][2]string{{"content-type", "application/json"}},
		Body: []byte(`{"client_id":"acme-web","connection":"email","username":"a@example.com","otp":"123456"}`)}
	b.ReportAllocs()
	for b.Loop() {
		res, err := vm.Do(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if res.Local == nil {
			b.Fatalf("not answered locally: %v", res)
		}
	}
}

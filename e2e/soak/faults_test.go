package soak

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestFaultyStore: with every call faulted, each fault shows to a caller as SPEC 6's failures
// do, the reference store never sees the call, and the call is filed under its request id.
func TestFaultyStore(t *testing.T) {
	reached := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached++
		_, _ = io.WriteString(w, `{"user_id":"u1"}`)
	})
	s := newFaultyStore(next, 1, 50*time.Millisecond, 7)
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := &http.Client{Timeout: 100 * time.Millisecond}
	seen := map[fault]bool{}
	for i := range 24 {
		id := "soak" + letters(uint64(i))
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"tenant":"acme"}`))
		req.Header.Set("x-request-id", id)
		start := time.Now()
		resp, err := client.Do(req)
		calls := s.lookup(id)
		if len(calls) != 1 {
			t.Fatalf("%d calls filed", len(calls))
		}
		f := calls[0].fault
		seen[f] = true
		switch f {
		case faultReset:
			if err == nil {
				t.Fatalf("reset: got %d", resp.StatusCode)
			}
		case faultTimeout:
			if err == nil && time.Since(start) < 50*time.Millisecond {
				t.Fatal("timeout fault answered before the filter's timeout")
			}
		case faultStatus500:
			if err != nil || resp.StatusCode != 500 {
				t.Fatalf("500: %v", err)
			}
		case faultMalformed:
			body, _ := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || len(body) == 0 || storeWant(200, body) == nil {
				t.Fatalf("malformed: %q reads as a success", body)
			}
		default:
			t.Fatalf("fault %s with share 1", f)
		}
		if err == nil {
			_ = resp.Body.Close()
		} else if !errors.Is(err, io.EOF) && f == faultStatus500 {
			t.Fatal(err)
		}
	}
	if reached != 0 || len(seen) != int(numFaults)-1 {
		t.Fatalf("reference store reached %d times; faults seen %v", reached, seen)
	}
}

func TestNoFaultPassesThrough(t *testing.T) {
	s := newFaultyStore(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"error":"invalid_user_password"}`)
	}), 0, time.Second, 7)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
	req.Header.Set("x-request-id", "soakq")
	s.ServeHTTP(rec, req)
	c := s.lookup("soakq")
	if rec.Code != 401 || len(c) != 1 || c[0].fault != faultNone || c[0].status != 401 || c[0].userID() != "" {
		t.Fatalf("answer %d, calls %+v", rec.Code, c)
	}
}

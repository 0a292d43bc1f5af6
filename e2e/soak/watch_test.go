package soak

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScanLogs(t *testing.T) {
	codes := map[string]bool{"123456": true, "654321": true}
	lines := []string{
		`[2026-12-06 21:57:05.939][123456][info][main] starting`, // the prefix: a thread id, not a code
		`[2026-12-06T21:57:04.402Z] "GET /passwordless/verify_redirect?verification_code=654321 HTTP/1.1" 302`,
		`time=2026-12-06T21:57:04.402Z level=INFO msg=verify otp=123456`,
		`no code here 1234567 12345 999999`,
		`[2026-12-06 21:57:05.939][14865][critical][wasm] wasm log passwordless_verify: panic: runtime error`,
		`[2026-12-06 21:57:05.939][14865][error][wasm] Function: proxy_on_request_body failed: Uncaught RuntimeError: unreachable`,
	}
	p := filepath.Join(t.TempDir(), "envoy.log")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	leaks, traps, err := scanLogs([]string{p}, codes)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaks) != 2 || !strings.Contains(leaks[0], "654321") || !strings.Contains(leaks[1], "otp=123456") {
		t.Errorf("leaks %q", leaks)
	}
	if len(traps) != 2 {
		t.Errorf("traps %q", traps)
	}
}

func TestHasCode(t *testing.T) {
	codes := map[string]bool{"012345": true}
	for s, want := range map[string]bool{"012345": true, "x=012345&": true, "0123456": false, "1012345": false, "01234": false, "": false,
		`"ts":1796.012345,`: false, `"value":"012345.000000"`: false, "code 012345.": true, ".012345 x": true} {
		if hasCode(s, codes) != want {
			t.Errorf("hasCode(%q) = %v", s, !want)
		}
	}
}

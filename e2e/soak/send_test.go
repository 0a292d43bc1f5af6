package soak

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestSecondAnswerCounted: a server that answers one request twice on a kept-alive
// connection is what the soak counts as answered twice; Go's client reports the second answer.
func TestSecondAnswerCounted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		const answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
		_, _ = io.WriteString(c, answer)
		time.Sleep(100 * time.Millisecond)
		_, _ = io.WriteString(c, answer)
		time.Sleep(300 * time.Millisecond)
	}()
	counter := &lineCounter{match: "Unsolicited response", w: io.Discard}
	log.SetOutput(counter)
	defer log.SetOutput(os.Stderr)
	r := &request{id: "soakq", method: http.MethodGet, path: "/", header: http.Header{}}
	c := newClient("127.0.0.1")
	do(context.Background(), c, "http://"+l.Addr().String(), r)
	if r.err != nil || r.status != 200 {
		t.Fatalf("first answer: %d %v", r.status, r.err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for counter.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if counter.count() != 1 {
		t.Fatalf("%d second answers counted, want 1", counter.count())
	}
}

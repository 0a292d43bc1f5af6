package ratelimitrun

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// UserKey is SPEC 14's `user` descriptor value: the first 32 lower-case hex characters of the
// SHA-256 of tenant, a zero byte, connection, a zero byte and the lower-cased username. The
// tests compute it here, apart from the filter, to know what the filter must send.
func UserKey(tenant, connection, username string) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + connection + "\x00" + strings.ToLower(username)))
	return hex.EncodeToString(sum[:])[:32]
}

// Attempt is what SPEC 14 asks the service about for one verify attempt.
type Attempt struct {
	Domain, Tenant, Connection, Username, IP string
}

// Body is the exact request body of SPEC 14 for a, with hits_addend as given (SPEC 14 sends 1).
func (a Attempt) Body(hitsAddend int) []byte {
	type entry struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	type descriptor struct {
		Entries []entry `json:"entries"`
	}
	req := struct {
		Domain      string       `json:"domain"`
		Descriptors []descriptor `json:"descriptors"`
		HitsAddend  int          `json:"hits_addend"`
	}{
		Domain: a.Domain,
		Descriptors: []descriptor{
			{Entries: []entry{{"tenant", a.Tenant}, {"connection", a.Connection}, {"user", UserKey(a.Tenant, a.Connection, a.Username)}, {"client_ip", a.IP}}},
			{Entries: []entry{{"tenant", a.Tenant}, {"client_ip", a.IP}}},
		},
		HitsAddend: hitsAddend,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // SPEC 14 escapes as JSON does, not as HTML
	_ = enc.Encode(req)      // only strings and an int: cannot fail
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// Answer is the service's JSON answer, as far as SPEC 14 reads it.
type Answer struct {
	Status      int    `json:"-"`
	ContentType string `json:"-"`
	Raw         []byte `json:"-"`
	OverallCode string `json:"overallCode"`
	Statuses    []struct {
		Code string `json:"code"`
	} `json:"statuses"`
}

// Ask posts body to the service's JSON endpoint. An answer that is not JSON leaves the codes
// empty; Raw holds it.
func (s *Service) Ask(ctx context.Context, body []byte) (*Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	a := &Answer{}
	_ = json.Unmarshal(raw, a) // not JSON: the codes stay empty, and Raw tells
	a.Status, a.ContentType, a.Raw = resp.StatusCode, resp.Header.Get("Content-Type"), raw
	return a, nil
}

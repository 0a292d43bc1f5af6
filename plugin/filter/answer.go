package filter

import "github.com/passwordless-verify/filter/shared/storewire"

// jsonHeaders go on every local answer. no-store: an answer about credentials must not be
// cached by anything between the proxy and the client.
var jsonHeaders = [][2]string{
	{"content-type", "application/json"},
	{"cache-control", "no-store"},
}

// appendErrorBody is the one writer of the client's error bodies:
// {"error":..,"error_description":..}. The rows with an exact text have one body each,
// written once at start.
func appendErrorBody(dst []byte, e *apiError) []byte {
	if Catalogue[e.kind].Exact {
		return append(dst, exactBodies[e.kind]...)
	}
	return writeErrorBody(dst, e)
}

var exactBodies = func() (b [NumErrorKinds][]byte) {
	for k, c := range Catalogue {
		if c.Exact {
			b[k] = writeErrorBody(nil, newError(ErrorKind(k)))
		}
	}
	return b
}()

func writeErrorBody(dst []byte, e *apiError) []byte {
	dst = append(dst, `{"error":`...)
	dst = storewire.AppendString(dst, e.code())
	if d := e.description(); d != "" {
		dst = append(dst, `,"error_description":`...)
		dst = storewire.AppendString(dst, d)
	}
	return append(dst, '}')
}

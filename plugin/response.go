package main

import (
	"github.com/passwordless-verify/filter/shared/userstore"
)

// jsonHeaders go on every local answer. no-store: an answer about credentials must not be
// cached by anything between the proxy and the client.
var jsonHeaders = [][2]string{
	{"content-type", "application/json"},
	{"cache-control", "no-store"},
}

// errorBody is the one writer of error bodies: {"error":..,"error_description":..}.
func errorBody(e *apiError) []byte {
	return userstore.ErrorBody(e.code(), e.description())
}

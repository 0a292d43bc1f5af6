package filter

import (
	"slices"
	"strings"
	"testing"
)

func TestSpellings(t *testing.T) {
	got, ok := spellings(nil, "x-user-id", 8)
	want := []string{"x-user-id", "x_user-id", "x-user_id", "x_user_id"}
	if !ok || !slices.Equal(got, want) {
		t.Errorf("spellings = %q %v, want %q", got, ok, want)
	}
	for _, s := range got {
		if !sameHeaderVariable(s, "x-user-id") || !sameHeaderVariable(strings.ToUpper(s), "x-user-id") {
			t.Errorf("%q is not the same variable as x-user-id", s)
		}
	}
	if _, ok := spellings(got, "a-b", 5); ok {
		t.Error("spellings went past its limit")
	}
	if got, ok := spellings(nil, "plain", 1); !ok || !slices.Equal(got, []string{"plain"}) {
		t.Errorf("a name without dashes: %q %v", got, ok)
	}
	for _, pair := range [][2]string{{"x-user-id", "x-user-i"}, {"x-user-id", "x.user-id"}, {"x-user-id", "xxuser-id"}} {
		if sameHeaderVariable(pair[0], pair[1]) {
			t.Errorf("%q and %q are different variables", pair[0], pair[1])
		}
	}
}

func TestIdentitySpellings(t *testing.T) {
	two := []identityHeader{{name: "x-passwordless-user-id"}, {name: "x-passwordless-tenant"}}
	if n := len(identitySpellings(two)); n != 12 {
		t.Errorf("%d spellings of the usual two headers, want 12", n)
	}
	long := append(two, identityHeader{name: "x-a-b-c-d-e"})
	if got := identitySpellings(long); got != nil {
		t.Errorf("%d spellings: past maxBlindRemovals the map is read instead", len(got))
	}
	if got := identitySpellings(nil); got != nil {
		t.Errorf("no identity headers: %q", got)
	}
}

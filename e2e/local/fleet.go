package local

import (
	"fmt"
	"strings"
)

// DemoMaxAttempts is attack_protection.max_attempts of envoy/local.yaml, and the limit per user
// and address of envoy/ratelimit/passwordless_verify.yaml.
const DemoMaxAttempts = 10

// WalkthroughRounds is how many rounds of wrong guesses the fleet walkthrough sends, one to
// each replica per round: 30 guesses over two replicas.
const WalkthroughRounds = 15

// FleetGuesses is the fleet walkthrough's shell loop: rounds of wrong guesses at the demo
// user's code, one to each front in turn, printing each answer's status on one line. The tests
// run it as printed.
func FleetGuesses(fronts []string, rounds int) string {
	return fmt.Sprintf(`for i in $(seq %d); do
  for front in %s; do
    curl -s -o /dev/null -w '%%{http_code} ' -X POST "$front/passwordless/verify" \
      -H 'x-tenant-id: %s' -H 'content-type: application/json' \
      -d '{"client_id":"%s","connection":"%s","username":"%s","otp":"000000"}'
  done
done; echo
`, rounds, strings.Join(fronts, " "), DemoTenant, DemoClientID, DemoConnection, DemoUsername)
}

// FrontURLs are the listeners of every replica (one for a single front).
func (s *Stack) FrontURLs() []string {
	if len(s.Envoys) == 0 {
		return []string{s.FrontURL}
	}
	urls := make([]string, len(s.Envoys))
	for i, e := range s.Envoys {
		urls[i] = e.URL
	}
	return urls
}

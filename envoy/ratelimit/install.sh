#!/usr/bin/env bash
# Installs the real parts of the fleet-wide limits (SPEC 14): Debian's redis-server (apt-get,
# when it is missing) and Envoy's rate-limit service at the version pinned in
# envoy/ratelimit/module.txt, built with `go install` into build/bin/ratelimit. A binary already
# built from the pinned version is kept: the build takes minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

pin=$(grep -v '^#' envoy/ratelimit/module.txt | grep .)
bin=build/bin/ratelimit

if [ -z "${REDIS_SERVER:-}" ] && ! command -v redis-server >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server
	else
		echo "install.sh: no redis-server: apt-get install redis-server (as root), or set REDIS_SERVER=/path/to/redis-server" >&2
		exit 1
	fi
fi
"${REDIS_SERVER:-redis-server}" --version

# go version -m names the package and the module version the binary was built from.
built() { go version -m "$bin" 2>/dev/null | awk '$1 == "path" {p = $2} $1 == "mod" {v = $3} END {print p "@" v}'; }
if [ "$(built)" != "$pin" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	echo "install.sh: go install $pin (a few minutes the first time)"
	GOBIN="$tmp" go install "$pin"
	mkdir -p build/bin
	mv "$tmp/service_cmd" "$bin"
fi
echo "rate-limit service: $bin ($(built))"

#!/usr/bin/env bash
# Makes sure the Debian packages the test suites use are present:
#   postgresql   the multi-replica store tests start a real PostgreSQL
#   chromium     the console tests drive Debian's Chromium with playwright-core
#   haproxy      the replica tests put a real TCP load balancer in front of three
#                servers (test/support/haproxy.ts runs its own; never the service)
# Runs before `npm test`. As root with apt-get it installs what is missing;
# otherwise it prints the one command to run and fails.
set -euo pipefail

missing=()
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then missing+=(postgresql); fi
# The store tests run PostgreSQL as this user when the suite runs as root.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then missing+=(postgresql); fi
if [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
if [ ! -x /usr/sbin/haproxy ]; then missing+=(haproxy); fi

[ ${#missing[@]} -eq 0 ] && exit 0
# shellcheck disable=SC2207
missing=($(printf '%s\n' "${missing[@]}" | sort -u))

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${missing[*]} (Debian packages the tests need)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's package starts a cluster on 5432; the tests start their own.
  if command -v pg_ctlcluster >/dev/null; then
    for c in /etc/postgresql/*/main; do
      [ -d "$c" ] && pg_ctlcluster "$(basename "$(dirname "$c")")" main stop >/dev/null 2>&1 || true
    done
  fi
  # Likewise Debian's haproxy service: the tests run their own on loopback.
  if [[ " ${missing[*]} " == *" haproxy "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now haproxy >/dev/null 2>&1 || true
  fi
  exit 0
fi

echo "system-deps: missing Debian packages: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}" >&2
exit 1

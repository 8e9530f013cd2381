#!/usr/bin/env bash
# Installs what the benchmarks need when it is missing (idempotent, safe to re-run):
#   - wrk (load generator, Debian package; C, one thread per core, Lua for the report)
#   - nginx (peer (b): plain reverse proxy)
#   - apache2 + libapache2-mod-auth-openidc (peer (c): ES256 bearer JWT validation)
# The packages' own services are never started: each benchmark runs its own nginx and
# Apache with its own configuration, ports and pid files in a temporary folder.
# Runs as root (apt-get); does nothing when everything is already there.
set -euo pipefail

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/sbin/apache2 ] || need+=(apache2)
[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || need+=(libapache2-mod-auth-openidc)
command -v taskset >/dev/null 2>&1 || need+=(util-linux)

if [ "${#need[@]}" -eq 0 ]; then
  echo "bench/setup.sh: wrk, nginx, apache2 and mod_auth_openidc are installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/setup.sh: missing ${need[*]}; run as root (apt-get install -y ${need[*]})" >&2
  exit 1
fi

# Keep the packages' maintainer scripts from starting the system nginx/apache2 (they would
# take port 80 and stay running): a policy-rc.d that refuses, removed afterwards unless
# one was already in place.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  made_policy=1
fi
cleanup() { if [ "$made_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# Update the package lists only when the candidates are unknown (a fresh machine).
for p in "${need[@]}"; do
  if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update -qq
    break
  fi
done
echo "bench/setup.sh: installing ${need[*]}"
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "bench/setup.sh: installed ${need[*]}"

#!/usr/bin/env bash
# Makes a Docker engine available for the tests that drive one: installs docker.io,
# busybox-static, docker-registry (a local registry the tests push to and pull from),
# apache2-utils (htpasswd: that registry with authentication) and
# iproute2 (the bridges of the extra engines, packages/e2e/src/docker-engines.ts) from Debian
# when missing, starts dockerd in the background when it is not running, and builds the small
# local test image pier-test/busybox (no registry of the internet is reachable, so the image is
# made from busybox-static with `docker import`). Idempotent.
set -euo pipefail

sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /usr/bin/busybox ] || need+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
# htpasswd -B makes the bcrypt file of the registry with authentication (e2e docker-registry.ts).
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-docker: installing ${need[*]}" >&2
  $sudo_cmd apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "ensure-docker: starting dockerd (log: /tmp/pier-dockerd.log)" >&2
  $sudo_cmd sh -c 'nohup dockerd >/tmp/pier-dockerd.log 2>&1 &'
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "ensure-docker: dockerd did not start; see /tmp/pier-dockerd.log" >&2; tail -20 /tmp/pier-dockerd.log >&2; exit 1; }
fi

if ! docker image inspect pier-test/busybox >/dev/null 2>&1; then
  root=$(mktemp -d)
  mkdir -p "$root/bin"
  cp /usr/bin/busybox "$root/bin/"
  for applet in sh echo sleep cat ls true env printf; do ln -s busybox "$root/bin/$applet"; done
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' - pier-test/busybox:latest >/dev/null
  rm -rf "$root"
  echo "ensure-docker: built image pier-test/busybox" >&2
fi

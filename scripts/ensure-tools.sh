#!/usr/bin/env bash
# Installs the system tools Pier's tests use, when they are missing. Idempotent and quiet
# when everything is present; CI machines start without anything installed by hand.
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The browser tests of the web UI drive Debian's chromium through playwright-core.
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
# scripts/testssl.ts scans both listeners with Debian's testssl.sh (command `testssl`).
command -v testssl >/dev/null 2>&1 || need+=(testssl.sh)

if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-tools: installing ${need[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

#!/usr/bin/env bash
# Installs the system tools Pier's tests use, when they are missing. Idempotent and quiet
# when everything is present; CI machines start without anything installed by hand.
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The browser tests of the web UI drive Debian's chromium through playwright-core.
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
# The Simplified Chinese screenshots need a CJK font (WenQuanYi Micro Hei: 1.6 MB, against 57 MB for Noto CJK).
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
# scripts/testssl.ts scans both listeners with Debian's testssl.sh (command `testssl`).
command -v testssl >/dev/null 2>&1 || need+=(testssl.sh)
# The store's contract suite and the replicas tests start their own PostgreSQL 15 (initdb, pg_ctl
# as the postgres user on a loopback port) and HAProxy (in the foreground, with -db).
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
[ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
# bench/handshakes.ts (and its smoke test) measures Pier's mTLS handshakes against nginx's.
[ -x /usr/sbin/nginx ] || need+=(nginx)
# packages/e2e/test/prometheus.test.ts has Debian's Prometheus scrape the server's /metrics.
[ -x /usr/bin/prometheus ] || need+=(prometheus)
# The chaos scenario clock-skew runs agents under libfaketime (command `faketime`).
command -v faketime >/dev/null 2>&1 || need+=(faketime)
# The chaos suite's partition scenario (packages/e2e/src/chaos/network-host.ts): network namespaces,
# veth and tc (iproute2), and on kernels without sch_netem its NFQUEUE delayer (iptables, python3).
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v python3 >/dev/null 2>&1 || need+=(python3)

if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-tools: installing ${need[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  # The tests start their own PostgreSQL: Debian must not create (and start) a `main` cluster on
  # port 5432. postgresql-15's postinst reads this one file (not its include_dir); written before
  # postgresql-common installs, ucf keeps it (UCF_FORCE_CONFFOLD below).
  conf=/etc/postgresql-common/createcluster.conf
  if [[ " ${need[*]} " == *" postgresql-15 "* ]] && ! grep -qs '^[[:space:]]*create_main_cluster' "$conf"; then
    $sudo_cmd mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $sudo_cmd tee -a "$conf" >/dev/null
  fi
  # Nor may the packages start services (haproxy's or nginx's default instance): the tests run their own.
  # A policy-rc.d already present (container images ship one) is left as it is.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
    $sudo_cmd chmod 755 /usr/sbin/policy-rc.d
    trap '$sudo_cmd rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $sudo_cmd apt-get update -qq >/dev/null
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1 apt-get install -y -qq "${need[@]}" >/dev/null
fi

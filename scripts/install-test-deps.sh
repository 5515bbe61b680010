#!/usr/bin/env bash
# Installs the real peers the test suite talks to (Debian packages). Run as root or with sudo.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  ca-certificates curl openssl procps v2ray microsocks tor chromium fonts-dejavu-core >/dev/null
echo "test dependencies installed: $(curl --version | head -1 | cut -d' ' -f1-2), $(v2ray -version 2>/dev/null | head -1)"

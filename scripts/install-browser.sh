#!/usr/bin/env bash
# System packages for the end-to-end browser test: Debian's Chromium (the tests drive it with
# Playwright's Python package, pointing it at /usr/bin/chromium; nothing is downloaded by Playwright).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version

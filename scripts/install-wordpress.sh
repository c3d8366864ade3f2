#!/usr/bin/env bash
# System packages for the WordPress test bed (make test-wordpress): Debian's WordPress, MariaDB and PHP.
# Nothing is configured or started here: the tests start a private MariaDB and PHP server per session
# in a temp dir (tests/wordpress/testbed.py), so installing changes no running service.
set -euo pipefail
PACKAGES="wordpress mariadb-server mariadb-client php-cli php-mysql php-xml wordpress-theme-twentytwentyone wordpress-theme-twentytwentythree"
missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $package"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
# Debian starts services after install where it can; policy-rc.d says no (the tests start their own).
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
fi
trap '[ -n "$created_policy" ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "installed:$missing"

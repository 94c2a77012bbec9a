#!/usr/bin/env bash
# Checks contrib/*.service with `systemd-analyze verify` (unknown keys, bad values, bad
# paths); any complaint fails. Skipped, with a message, where systemd-analyze is not
# installed (apt-get install systemd). ExecStart's binary is replaced by /bin/true for
# the check: verify insists that it exists, and the units name where it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-check: systemd-analyze not installed; contrib/*.service not checked"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A user manager needs a runtime dir, even for an offline check.
mkdir -p "$tmp/run" && chmod 700 "$tmp/run"
status=0
for unit in contrib/purr.service contrib/purr-user.service; do
    mode=--system
    case "$unit" in *-user.service) mode=--user ;; esac
    # verify takes the unit's name from the file: check each as purr.service.
    mkdir -p "$tmp/$mode"
    sed -E 's#^ExecStart=[^ ]+#ExecStart=/bin/true#' "$unit" > "$tmp/$mode/purr.service"
    if out=$(XDG_RUNTIME_DIR="$tmp/run" systemd-analyze "$mode" verify "$tmp/$mode/purr.service" 2>&1) \
        && [ -z "$out" ]; then
        echo "systemd-check: $unit OK"
    else
        echo "systemd-check: $unit:"
        echo "$out" | sed "s#$tmp/$mode/purr.service#$unit#g"
        status=1
    fi
done
if [ "$status" -eq 0 ]; then
    # For information: systemd's own score of the system unit's sandbox (0 = tight, 10 = none).
    systemd-analyze security --offline=yes "$tmp/--system/purr.service" 2>/dev/null \
        | sed -n 's/^→ /systemd-check: /p' || true
fi
exit "$status"

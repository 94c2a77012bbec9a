#!/usr/bin/env bash
# The first step of `make test` (and of .ci/run): checks, in a few seconds, everything
# the test suite needs. As root it installs what is missing from Debian's packages and
# rustup (as CI does); otherwise it stops with the exact commands to run. Namespace
# tests need root with CAP_NET_ADMIN: without it they are skipped, each saying so.
set -uo pipefail

fixes=()      # commands the user must run
apt_need=()   # Debian packages to install
notes=()

is_root() { [ "$(id -u)" -eq 0 ]; }

# version_ge A B: A >= B for dotted numbers.
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }

# Rust: the MSRV from Cargo.toml, rustfmt and clippy.
msrv=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml)
if ! rustc_v=$(rustc --version 2>/dev/null | awk '{print $2}'); then
    fixes+=("install Rust $msrv or newer: https://rustup.rs (then: rustup default stable)")
elif ! version_ge "$rustc_v" "$msrv"; then
    fixes+=("rustup update stable   # rustc $rustc_v is older than the $msrv this crate needs")
fi
for comp in rustfmt clippy; do
    if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
        if is_root && command -v rustup >/dev/null 2>&1; then
            echo "prereqs: installing the $comp component"
            rustup component add "$comp" || fixes+=("rustup component add $comp")
        else
            fixes+=("rustup component add $comp")
        fi
    fi
done

# Node/npm for the UI (vite 8 needs Node 20.19 or newer).
node_min=20.19.0
if ! node_v=$(node --version 2>/dev/null); then
    fixes+=("install Node.js $node_min or newer with npm (Debian 13: apt-get install nodejs npm; Debian 12's nodejs is 18: use NodeSource or nvm)")
elif ! version_ge "${node_v#v}" "$node_min"; then
    fixes+=("upgrade Node.js: $node_v is older than $node_min, which the UI's build needs")
fi
command -v npm >/dev/null 2>&1 || fixes+=("install npm (it comes with Node.js)")

# The browser tests: Debian's chromium (never a downloaded browser build).
[ -x /usr/bin/chromium ] || apt_need+=(chromium)
# Namespace tests: iproute2.
command -v ip >/dev/null 2>&1 || apt_need+=(iproute2)
# tests/discovery_mdns.rs: Debian's avahi-daemon, run by the test in a namespace only
# (its own config, no D-Bus); the test skips without it.
[ -x /usr/sbin/avahi-daemon ] || apt_need+=(avahi-daemon)

if [ "${#apt_need[@]}" -gt 0 ]; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
        echo "prereqs: installing ${apt_need[*]}"
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_need[@]}" ||
            fixes+=("apt-get install ${apt_need[*]}")
    else
        fixes+=("sudo apt-get install ${apt_need[*]}")
    fi
fi

# Network namespaces: root and CAP_NET_ADMIN (a container may have root without it).
if ! is_root; then
    notes+=("not root: the network-namespace tests (LAN discovery, floods from a LAN) will be skipped; run make test as root to include them")
elif command -v ip >/dev/null 2>&1; then
    probe="purr-probe-$$-0"
    if ip netns add "$probe" 2>/dev/null; then
        ip netns del "$probe" 2>/dev/null
    else
        notes+=("root without CAP_NET_ADMIN (a container?): the network-namespace tests will be skipped")
    fi
fi

for n in "${notes[@]}"; do echo "prereqs: note: $n"; done
if [ "${#fixes[@]}" -gt 0 ]; then
    echo "prereqs: make test cannot run yet. Run:" >&2
    for f in "${fixes[@]}"; do echo "    $f" >&2; done
    exit 1
fi
echo "prereqs: ok (rustc ${rustc_v:-?}, node ${node_v:-?}, chromium, iproute2)"

#!/usr/bin/env bash
# Install the third-party programs the netns end-to-end tests use (Debian 12 / Ubuntu).
# Idempotent and non-interactive. Must run as root.
#
#   strongSwan 5.9 charon + swanctl + kernel-libipsec (libcharon-extra-plugins),
#   BIRD 2, FRR, iperf3, iproute2, ping, nftables, tshark, procps (sysctl), kmod.
#
# Package maintainer scripts call invoke-rc.d, which on a non-systemd box (containers,
# CI runners) may really start bird/frr/ipsec. Those would grab ports 179/500/4500 and
# /run/charon.pid in the root namespace and interfere with the tests, so a
# policy-rc.d that forbids starting services is installed for the duration of the
# install (and removed afterwards, unless one was already there).
#
# Usage: .ci/install-deps.sh [--check]
#   --check   install nothing: list missing packages, run the sanity checks, report
#             running daemons; exit 1 if anything is missing.
set -euo pipefail

PACKAGES=(
    strongswan-charon strongswan-swanctl strongswan-libcharon
    libcharon-extra-plugins libstrongswan-extra-plugins libstrongswan-standard-plugins
    strongswan-pki
    bird2 frr iperf3
    iproute2 iputils-ping iputils-arping nftables tshark procps kmod
    openssl ca-certificates
    docker.io docker-compose
)
POLICY=/usr/sbin/policy-rc.d
policy_installed_by_us=0

log() { echo "install-deps.sh: $*" >&2; }

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
            echo "$pkg"
        fi
    done
}

forbid_service_starts() {
    [ -e "$POLICY" ] && return 0   # keep an existing policy (e.g. Docker's "exit 101")
    cat > "$POLICY" <<'EOF'
#!/bin/sh
# Temporary (written by .ci/install-deps.sh): do not start services during install.
exit 101
EOF
    chmod 0755 "$POLICY"
    policy_installed_by_us=1
}

restore_service_policy() {
    if [ "$policy_installed_by_us" = 1 ]; then
        rm -f "$POLICY"
        policy_installed_by_us=0
    fi
}

install_packages() {  # PACKAGE...
    forbid_service_starts
    trap restore_service_policy EXIT
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer without a prompt.
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
    apt-get update -q
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
    restore_service_policy
}

sanity_checks() {  # prints failures, returns 1 if any
    local fail=0
    check() { if ! "$@" >/dev/null 2>&1; then log "check failed: $*"; fail=1; fi; }
    check test -x /usr/lib/ipsec/charon
    check test -f /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so
    check command -v swanctl
    check command -v bird
    check command -v birdc
    check test -x /usr/lib/frr/bgpd
    check command -v iperf3
    check command -v ip
    check command -v ping
    check command -v sysctl
    check command -v tshark
    check test -c /dev/net/tun
    return "$fail"
}

# Report (never kill: they may belong to someone else) daemons that the packages
# started anyway, e.g. on a systemd host where policy-rc.d is not consulted.
report_running_daemons() {
    local running
    running=$(ps -eo pid=,comm= | awk '$2 ~ /^(bird|charon|starter|zebra|bgpd|watchfrr|mgmtd|staticd)$/' || true)
    if [ -n "$running" ]; then
        log "WARNING: these daemons are running in the root namespace; stop them"
        log "  (e.g. systemctl disable --now bird frr strongswan-starter) before the tests:"
        echo "$running" >&2
    fi
}

main() {
    local check_only=0
    case "${1:-}" in
        --check) check_only=1;;
        "") ;;
        *) echo "usage: $0 [--check]" >&2; exit 2;;
    esac
    if [ "$check_only" = 0 ] && [ "$(id -u)" -ne 0 ]; then
        log "must run as root"; exit 1
    fi

    local missing status=0
    missing=$(missing_packages | tr '\n' ' ')
    missing=${missing% }
    if [ -z "$missing" ]; then
        log "all packages already installed"
    elif [ "$check_only" = 1 ]; then
        log "missing packages: $missing"; status=1
    else
        log "installing: $missing"
        # shellcheck disable=SC2086  # word splitting of the package list is intended
        install_packages $missing
    fi
    sanity_checks || status=1
    report_running_daemons
    exit "$status"
}

main "$@"

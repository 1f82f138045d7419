# Sourced by the image scripts: where debootstrap fetches Debian from.
#
# debian_mirror: the first Debian archive apt uses here (not -security, not third-party repositories such
# as nodesource), so debootstrap reaches the same mirror as apt; Debian's own address when none is found.
debian_mirror() {
    local uri
    uri="$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?$' /etc/apt/sources.list.d/ /etc/apt/sources.list \
        2>/dev/null | head -1 | awk '{print $2}')"
    echo "${uri:-http://deb.debian.org/debian}"
}

# Debian package helpers shared by the interop scripts (sourced, not run).
#
#   missing_packages PKG...   prints those of PKG that are not installed
#   install_missing WHO PKG...
#                             installs those of PKG that are missing
#                             (apt-get, no recommends; root needed then,
#                             else exits 2 naming them; WHO prefixes the
#                             message). Only what is missing is named:
#                             naming an installed package would upgrade it.

missing_packages() {
    local pkg
    for pkg in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
            echo "$pkg"
        fi
    done
}

install_missing() {
    local who=$1 to_install
    shift
    mapfile -t to_install < <(missing_packages "$@")
    [ "${#to_install[@]}" -gt 0 ] || return 0
    if [ "$(id -u)" != 0 ]; then
        echo "$who: missing packages (${to_install[*]}); installing them needs root" >&2
        exit 2
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${to_install[@]}"
    mapfile -t to_install < <(missing_packages "$@")
    if [ "${#to_install[@]}" -gt 0 ]; then
        echo "$who: still not installed: ${to_install[*]}" >&2
        exit 2
    fi
}

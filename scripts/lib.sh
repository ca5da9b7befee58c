# Shared set-up steps for scripts/demo and scripts/test (sourced, not run).
#
#   HERD_ROOT     the repository root
#   ensure_sshd   OpenSSH's sshd at /usr/sbin/sshd (apt-get as root, else advice)
#   ensure_distro_tools  sudo, Dropbear and openssl for the Debian-style test hosts (as root)
#   ensure_venv   .venv with herd installed editable, with its [test] extra
#                 (HERD_PYTHON=3.12: .venv-3.12 built with Python 3.12 instead; see use_python)
#   ensure_chromium  Debian's chromium and chromedriver (herd web's browser tests)
#   ensure_releases  every supervisor release the test fleet's release hosts run, in the
#                 shared cache (python -m herd.testing releases install; after ensure_venv)

HERD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERD_VENV="$HERD_ROOT/.venv"
HERD_VENV_PYTHON=python3
SSHD=/usr/sbin/sshd
_apt_updated=

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

is_root() {
    [ "$(id -u)" -eq 0 ]
}

# apt_install PKG...: install Debian packages without starting any service
# they ship (an openssh-server postinst would otherwise start sshd on port 22).
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* with your package manager"
    local policy=/usr/sbin/policy-rc.d added=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added=1
    fi
    if [ -z "$_apt_updated" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q && _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
    local status=$?
    [ -n "$added" ] && rm -f "$policy"
    return $status
}

ensure_sshd() {
    [ -x "$SSHD" ] && command -v ssh-keygen >/dev/null && return 0
    is_root || die "$SSHD is missing: install OpenSSH's server (sudo apt-get install openssh-server)"
    echo "installing openssh-server ..."
    apt_install openssh-server || die "apt-get install openssh-server failed"
}

# The test fleet's Debian-style hosts (root only) need sudo, Dropbear and
# openssl (to hash a sudo password); unshare/nsenter come with util-linux.
ensure_distro_tools() {
    local missing=()
    command -v sudo >/dev/null || missing+=(sudo)
    command -v dropbear >/dev/null && command -v dropbearkey >/dev/null || missing+=(dropbear-bin)
    command -v openssl >/dev/null || missing+=(openssl)
    [ ${#missing[@]} -eq 0 ] && return 0
    is_root || return 0   # the distro hosts need root anyway; their tests say so
    echo "installing ${missing[*]} ..."
    apt_install "${missing[@]}" || die "apt-get install ${missing[*]} failed"
}

# find_python X.Y: the path of a Python X.Y interpreter that runs (pythonX.Y on PATH, else pyenv's
# versions: a pyenv shim on PATH runs only where that version is selected), or nothing.
find_python() {
    local version=$1 found root
    root=${PYENV_ROOT:-$HOME/.pyenv}
    for found in "$(command -v "python$version" 2>/dev/null)" "$root"/versions/"$version".*/bin/python"$version"; do
        [ -x "$found" ] && "$found" -c "import sys; sys.exit(sys.version_info[:2] != (${version/./, }))" 2>/dev/null \
            && { echo "$found"; return 0; }
    done
    return 1
}

# use_python X.Y: build and use .venv-X.Y with that interpreter (herd runs on Python 3.10 and later).
use_python() {
    local version=$1 found
    [[ "$version" =~ ^3\.[0-9]+$ ]] || die "--python wants a Python version such as 3.12, got '$version'"
    found=$(find_python "$version") \
        || die "Python $version not found: install it (pyenv install $version) or put python$version on PATH"
    HERD_VENV="$HERD_ROOT/.venv-$version"
    HERD_VENV_PYTHON=$found
}

_make_venv() {
    rm -rf "$HERD_VENV"
    "$HERD_VENV_PYTHON" -m venv "$HERD_VENV" >/dev/null 2>&1
}

ensure_venv() {
    if ! command -v python3 >/dev/null; then
        is_root || die "python3 is missing: install it (sudo apt-get install python3 python3-venv)"
        apt_install python3 python3-venv || die "apt-get install python3 failed"
    fi
    if [ ! -x "$HERD_VENV/bin/python" ] && ! _make_venv; then
        is_root || die "python3 -m venv failed: install python3-venv (sudo apt-get install python3-venv)"
        echo "installing python3-venv ..."
        apt_install python3-venv || die "apt-get install python3-venv failed"
        _make_venv || die "$HERD_VENV_PYTHON -m venv $HERD_VENV failed even with python3-venv installed"
    fi
    _install_herd
}

# Install herd editable with its test extra, unless pyproject.toml is unchanged
# since the last successful install.
_install_herd() {
    local stamp="$HERD_VENV/.herd-installed" want
    want="$(sha256sum <"$HERD_ROOT/pyproject.toml" | cut -d' ' -f1)"
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
    echo "installing herd and its test dependencies into .venv ..."
    (cd "$HERD_ROOT" && "$HERD_VENV/bin/pip" install -q -e '.[test]') \
        || die "pip install -e '.[test]' failed (see above)"
    echo "$want" >"$stamp"
}

# herd web's tests drive a real browser: Debian's chromium with its chromedriver.
ensure_chromium() {
    command -v chromium >/dev/null && command -v chromedriver >/dev/null && return 0
    is_root || die "chromium and chromedriver are missing: sudo apt-get install chromium chromium-driver"
    echo "installing chromium and chromium-driver ..."
    apt_install chromium chromium-driver || die "apt-get install chromium chromium-driver failed"
}

# The test fleet's release hosts run real supervisord releases (3.0a12 to 4.3.0) on
# the Pythons real hosts run them on (pyenv's 2.7, 3.7, 3.11): install them all once,
# into a cache shared by every run (~20 s cold, a few tenths of a second warm).
# A missing interpreter fails here in one line, not in the middle of the tests.
ensure_releases() {
    local err
    { err=$("$HERD_VENV/bin/python" -m herd.testing releases install --quiet 2>&1 >&3); } 3>&1 \
        || die "${err#herd.testing: }"
}

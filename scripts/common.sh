# Shared by scripts/demo and scripts/test: installs what is missing from
# Debian's packages and builds zmqsink out of tree. Source it; do not run it.

ZS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZS_PACKAGES="build-essential autoconf automake libtool pkg-config
  libzmq3-dev libyaml-dev libcriterion-dev libck-dev valgrind clang
  libclang-rt-14-dev"

zs_install_deps() {
    local missing=()
    for package in $ZS_PACKAGES; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
            grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "zmqsink: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >/dev/null
}

# zs_build DIR [CONFIGURE ARGS...]: configures (once) and builds in DIR.
zs_build() {
    local dir=$1
    shift
    [ -x "$ZS_TOP/configure" ] || (cd "$ZS_TOP" && autoreconf -fi >/dev/null 2>&1) ||
        { echo "zmqsink: autoreconf failed" >&2; return 1; }
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ]; then
        (cd "$dir" && "$ZS_TOP/configure" -q "$@" >configure.out 2>&1) ||
            { cat "$dir/configure.out" >&2
              echo "zmqsink: configure failed, see $dir/config.log" >&2; return 1; }
    fi
    make -C "$dir" -j"$(nproc)" -s >/dev/null ||
        { echo "zmqsink: build failed in $dir" >&2; return 1; }
}

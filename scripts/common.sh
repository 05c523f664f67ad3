# Shared by scripts/demo and scripts/test: installs what is missing from
# Debian's packages and builds zmqsink out of tree. Source it; do not run it.

ZS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# libsystemd-dev builds the journald sink; systemd brings the
# systemd-journald and journalctl its tests run by hand (no systemd as
# PID 1 needed). debhelper and lintian build and check the Debian packages
# (scripts/test deb). libmicrohttpd-dev builds the prometheus sink; its
# tests run Debian's prometheus and promtool, and curl. libnats-dev builds
# the nats sink; its tests run a cluster of Debian's nats-server. clang,
# libclang-rt-14-dev and libfuzzer-14-dev build the fuzz targets
# (scripts/fuzz).
ZS_PACKAGES="build-essential autoconf automake libtool pkg-config
  libzmq3-dev libyaml-dev libcurl4-openssl-dev zlib1g-dev libcriterion-dev libck-dev valgrind clang
  libclang-rt-14-dev libfuzzer-14-dev cmake dpkg-dev rsyslog libsystemd-dev systemd
  python3 python3-zmq libczmq-dev openssl debhelper lintian
  libmicrohttpd-dev prometheus curl libnats-dev nats-server"

# librdkafka-dev builds the kafka sink; its tests run librdkafka's own mock
# cluster (Debian ships no Kafka broker).
ZS_PACKAGES="$ZS_PACKAGES librdkafka-dev"

zs_install_deps() {
    local missing=()
    for package in $ZS_PACKAGES; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
            grep -q "install ok installed" || missing+=("$package")
    done
    # Node.js runs the statsd daemon the statsd sink is tested against;
    # Debian's packages unless the machine already has node and npm.
    command -v node >/dev/null && command -v npm >/dev/null ||
        missing+=(nodejs npm)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "zmqsink: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" >/dev/null
}

# zs_configure DIR [CONFIGURE ARGS...]: configures DIR, once.
zs_configure() {
    local dir=$1
    shift
    [ -x "$ZS_TOP/configure" ] || (cd "$ZS_TOP" && autoreconf -fi >/dev/null 2>&1) ||
        { echo "zmqsink: autoreconf failed" >&2; return 1; }
    mkdir -p "$dir"
    [ -f "$dir/Makefile" ] && return 0
    (cd "$dir" && "$ZS_TOP/configure" -q "$@" >configure.out 2>&1) ||
        { cat "$dir/configure.out" >&2
          echo "zmqsink: configure failed, see $dir/config.log" >&2; return 1; }
}

# zs_build DIR [CONFIGURE ARGS...]: configures (once) and builds in DIR.
zs_build() {
    local dir=$1
    zs_configure "$@" || return 1
    make -C "$dir" -j"$(nproc)" -s >/dev/null ||
        { echo "zmqsink: build failed in $dir" >&2; return 1; }
}

# zs_draft_libzmq DIR: builds libzmq with its draft API (which has the v2
# monitor) into DIR/install, from Debian's source package of libzmq. The
# source is fetched with a private apt configuration made from this
# machine's own package sources, so the system's apt setup is untouched.
zs_draft_libzmq() {
    local root=$1 prefix=$1/install src
    [ -f "$prefix/lib/pkgconfig/libzmq.pc" ] && return 0
    rm -rf "$root" && mkdir -p "$root/apt/parts" "$root/apt/lists/partial" "$root/src"
    for f in /etc/apt/sources.list.d/debian*.sources; do
        [ -f "$f" ] && sed 's/^Types: deb$/Types: deb-src/' "$f" >"$root/apt/parts/$(basename "$f")"
    done
    [ -f /etc/apt/sources.list ] &&
        sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >"$root/apt/parts/sources.list"
    local apt=(apt-get -qq -o Dir::Etc::SourceList=/dev/null
               -o Dir::Etc::SourceParts="$root/apt/parts"
               -o Dir::State::Lists="$root/apt/lists")
    { "${apt[@]}" update && (cd "$root/src" && "${apt[@]}" source zeromq3); } \
        >"$root/fetch.log" 2>&1 ||
        { cat "$root/fetch.log" >&2; echo "zmqsink: cannot fetch libzmq's source" >&2; return 1; }
    src=$(find "$root/src" -maxdepth 1 -type d -name 'zeromq3-*' | head -n 1)
    { cmake -S "$src" -B "$root/build" -DENABLE_DRAFTS=ON -DBUILD_TESTS=OFF \
          -DWITH_DOCS=OFF -DBUILD_STATIC=OFF -DWITH_PERF_TOOL=OFF \
          -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_LIBDIR=lib \
          -DCMAKE_INSTALL_PREFIX="$prefix" &&
      cmake --build "$root/build" -j"$(nproc)" &&
      cmake --install "$root/build"; } >"$root/build.log" 2>&1 ||
        { tail -30 "$root/build.log" >&2; echo "zmqsink: libzmq draft build failed" >&2; return 1; }
}

# zs_install_test_servers: the statsd daemon from npm, as pinned by
# tests/statsd/package-lock.json.
zs_install_test_servers() {
    local dir=$ZS_TOP/tests/statsd
    [ -f "$dir/node_modules/statsd/stats.js" ] &&
        [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] &&
        return 0
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
        { echo "zmqsink: npm ci in tests/statsd failed" >&2; return 1; }
}

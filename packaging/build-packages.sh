#!/usr/bin/env bash
# Builds the release packages of the VAST Data OST plugin into DIST (default
# dist/): vastost_<version>_amd64.deb, vastost-<version>-1.x86_64.rpm (when
# rpmbuild is there), and vastost-debug-<version>.tar.gz (the separate debug
# files, by build id).
#
#   packaging/build-packages.sh [DIST]
#
# Needs cargo-zigbuild and ziglang (pip install cargo-zigbuild ziglang):
# the binaries are linked against glibc 2.17, so they load on every Linux a
# NetBackup media server runs (RHEL/OL 7 and later, SLES 12 and later,
# Debian 9, Ubuntu 18.04 ...). Fails when a shipped binary needs a newer
# glibc, or when the plugin exports anything but its entry points.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=$(realpath -m "${1:-dist}")
target=x86_64-unknown-linux-gnu
baseline=2.17
version=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "vastost"))')
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
build_dir=${CARGO_TARGET_DIR:-target}
out="$build_dir/$target/release"

echo "building vastost $version ($commit) for glibc $baseline"
# The operator's tool without the lab (sim, demo, bench): see the `lab`
# feature of crates/cli.
cargo zigbuild --release --locked --target "$target.$baseline" \
    -p vastost-plugin-mt -p vastost-plugin-st -p vastost --no-default-features

rm -rf "$dist" && mkdir -p "$dist"
stage="$dist/stage"
debug="$dist/debug"
plugins="$stage/usr/openv/lib/ost-plugins"
mkdir -p "$plugins" "$stage/usr/bin" "$stage/usr/share/doc/vastost" \
    "$stage/usr/openv/netbackup/logs/vastost" "$debug"

# Stripped binaries; their debug information in files named by build id
# (gdb and eu-stack find /usr/lib/debug/.build-id/xx/rest.debug).
ship() {
    local from=$1 to=$2
    local id
    id=$(readelf -n "$from" | sed -n 's/.*Build ID: //p')
    [ -n "$id" ] || { echo "error: $from has no build id" >&2; exit 1; }
    mkdir -p "$debug/usr/lib/debug/.build-id/${id:0:2}"
    local dbg="$debug/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
    objcopy --only-keep-debug "$from" "$dbg"
    objcopy --strip-all --add-gnu-debuglink="$dbg" "$from" "$to"
    chmod 755 "$to"
}
ship "$out/libstspiVastDataMT.so" "$plugins/libstspiVastDataMT.so"
ship "$out/libstspiVastData.so" "$plugins/libstspiVastData.so"
ship "$out/vastost" "$stage/usr/bin/vastost"
install -m 644 packaging/vastost.toml.example "$plugins/vastost.toml.example"
install -m 644 README.md LICENSE "$stage/usr/share/doc/vastost/"
tar -C "$debug" -czf "$dist/vastost-debug-$version.tar.gz" usr

# What CI enforces: the glibc baseline and the export list.
newest_glibc() {
    objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1
}
for bin in "$plugins"/libstspiVastData*.so "$stage/usr/bin/vastost"; do
    need=$(newest_glibc "$bin")
    size=$(stat -c %s "$bin")
    echo "$(basename "$bin"): needs glibc $need, $size bytes"
    if [ "$(printf '%s\n%s\n' "$need" "$baseline" | sort -V | tail -1)" != "$baseline" ]; then
        echo "error: $(basename "$bin") needs glibc $need, above the $baseline baseline" >&2
        exit 1
    fi
done
for lib in "$plugins"/libstspiVastData*.so; do
    foreign=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v -E '^(stspi_|vastost_)' || true)
    if [ -n "$foreign" ]; then
        echo "error: $(basename "$lib") exports symbols that are not its entry points:" >&2
        echo "$foreign" >&2
        exit 1
    fi
done

# .deb: dpkg replaces each file by a rename, so a running bptm keeps the
# library it mapped; the configuration (not shipped) and the logs stay on
# removal.
mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<EOF
Package: vastost
Version: $version
Architecture: amd64
Maintainer: VAST Data OST plugin team
Section: admin
Priority: optional
Depends: libc6 (>= $baseline)
Description: VAST Data OpenStorage (OST) plugin for Veritas NetBackup
 libstspiVastDataMT.so and libstspiVastData.so in /usr/openv/lib/ost-plugins,
 and the vastost tool to check, provision, benchmark and drive them.
 Built from commit $commit.
EOF
deb="$dist/vastost_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb" >/dev/null
rm -rf "$stage/DEBIAN"
echo "built $deb"

# .rpm, with the same files and rules.
if command -v rpmbuild >/dev/null; then
    top="$dist/rpmbuild"
    mkdir -p "$top"/{BUILD,RPMS,SPECS,SRPMS,SOURCES}
    cat > "$top/SPECS/vastost.spec" <<EOF
Name: vastost
Version: $version
Release: 1
Summary: VAST Data OpenStorage (OST) plugin for Veritas NetBackup
License: Apache-2.0
BuildArch: x86_64
AutoReqProv: no
Requires: glibc >= $baseline
%global debug_package %{nil}
%global __strip /bin/true
%global __os_install_post %{nil}

%description
libstspiVastDataMT.so and libstspiVastData.so in /usr/openv/lib/ost-plugins,
and the vastost tool to check, provision, benchmark and drive them.
Built from commit $commit.

%install
cp -a "$stage/." %{buildroot}/

%files
%attr(755,root,root) /usr/openv/lib/ost-plugins/libstspiVastDataMT.so
%attr(755,root,root) /usr/openv/lib/ost-plugins/libstspiVastData.so
%attr(644,root,root) /usr/openv/lib/ost-plugins/vastost.toml.example
%attr(755,root,root) /usr/bin/vastost
%dir %attr(755,root,root) /usr/openv/netbackup/logs/vastost
%doc /usr/share/doc/vastost/README.md
%license /usr/share/doc/vastost/LICENSE
EOF
    rpmbuild --quiet --define "_topdir $top" --define "_build_id_links none" -bb "$top/SPECS/vastost.spec"
    mv "$top"/RPMS/x86_64/*.rpm "$dist/"
    rm -rf "$top"
    echo "built $(ls "$dist"/*.rpm)"
else
    echo "rpmbuild not found: no .rpm built (apt-get install rpm, or dnf install rpm-build)"
fi
rm -rf "$stage" "$debug"
ls -l "$dist"

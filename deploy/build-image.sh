#!/usr/bin/env bash
# Builds the ghostpeer image without a registry or a Dockerfile base: a
# rootfs holding the three binaries, exactly the shared libraries they link
# (found with ldd), CA certificates, and busybox for a shell in emergencies,
# imported with `docker import`. Prints the image reference on stdout.
#   deploy/build-image.sh            builds build/ first if needed
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}

scripts/build.sh ghostpeer-agent ghostpeer-aggregator ghostpeer >&2

rootfs=$(mktemp -d /tmp/ghostpeer-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,etc,tmp,var/lib/ghostpeer,etc/ssl/certs}
chmod 1777 "$rootfs/tmp"
for binary in ghostpeer-agent ghostpeer-aggregator ghostpeer; do
  install -m 0755 "$build_dir/bin/$binary" "$rootfs/bin/$binary"
  # Every library the dynamic loader will want, at the same path.
  ldd "$build_dir/bin/$binary" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' |
    while read -r lib; do
      mkdir -p "$rootfs$(dirname "$lib")"
      cp -Ln "$lib" "$rootfs$lib" 2>/dev/null || true
    done
done
# The loader itself, under the name the binaries ask for.
interp=$(readelf -l "$build_dir/bin/ghostpeer" | sed -n 's/.*interpreter: \(.*\)]/\1/p')
mkdir -p "$rootfs$(dirname "$interp")"
cp -Ln "$interp" "$rootfs$interp"
if [[ -x /bin/busybox ]]; then
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in sh cat ls ps wget; do ln -sf busybox "$rootfs/bin/$applet"; done
fi
cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/" 2>/dev/null || true
echo "root:x:0:0:root:/:/bin/sh" >"$rootfs/etc/passwd"
echo "root:x:0:" >"$rootfs/etc/group"

# Tag by content so that `docker stack deploy` sees a new image exactly when
# something changed, and rolls the services only then.
digest=$(tar -C "$rootfs" --sort=name --mtime=@0 --owner=0 --group=0 -c . | sha256sum | cut -c1-12)
image="ghostpeer:$digest"
if ! docker image inspect "$image" >/dev/null 2>&1; then
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'WORKDIR /var/lib/ghostpeer' \
    - "$image" >/dev/null
  echo "deploy: built image $image" >&2
else
  echo "deploy: image $image is current" >&2
fi
docker tag "$image" ghostpeer:latest
echo "$image"

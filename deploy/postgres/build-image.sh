#!/usr/bin/env bash
# Builds ghostpeer-postgres, the PostgreSQL of deploy/stack.postgres.yml,
# the way build-image.sh builds ghostpeer's: no registry and no base image,
# a rootfs holding Debian 12's PostgreSQL as this host has it
# (/usr/lib/postgresql/VERSION from the `postgresql` package, which
# scripts/install-deps.sh installs), exactly the shared libraries it links,
# its share/ files and the time zones, busybox for the entrypoint's shell,
# imported with `docker import`. Prints the image reference on stdout.
#
# The image runs as `postgres` (uid/gid 999, which own its data directory,
# so that a new volume takes that ownership); deploy/postgres/entrypoint.sh
# makes the cluster on the first start. No JIT (llvmjit and its 100 MB of
# LLVM stay out).
set -euo pipefail
cd "$(dirname "$0")/../.."
readonly uid=999

# The newest server installed, e.g. /usr/lib/postgresql/15.
pg_lib=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' 2>/dev/null |
  sort -V | tail -n 1)
pg_lib=${pg_lib%/bin/postgres}
if [[ -z "$pg_lib" ]]; then
  echo "postgres image: no PostgreSQL server in /usr/lib/postgresql (Debian's postgresql package: scripts/install-deps.sh)" >&2
  exit 1
fi
version=${pg_lib##*/}
pg_share=/usr/share/postgresql/$version
[[ -d "$pg_share" ]] || { echo "postgres image: $pg_share is missing" >&2; exit 1; }
[[ -x /bin/busybox ]] || { echo "postgres image: /bin/busybox is missing (busybox-static)" >&2; exit 1; }

rootfs=$(mktemp -d /tmp/ghostpeer-postgres-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,etc,tmp,usr/share,var/run/postgresql,var/lib/postgresql/data}
chmod 1777 "$rootfs/tmp"
# Only what the server, initdb, psql and pg_isready need.
mkdir -p "$rootfs$pg_lib/bin" "$rootfs$pg_lib/lib"
for binary in postgres initdb pg_ctl psql pg_isready; do
  cp -L "$pg_lib/bin/$binary" "$rootfs$pg_lib/bin/$binary"
done
ln -s postgres "$rootfs$pg_lib/bin/postmaster"
find "$pg_lib/lib" -maxdepth 1 -name '*.so' ! -name 'llvmjit*' -exec cp -L {} "$rootfs$pg_lib/lib/" \;
mkdir -p "$rootfs/usr/share/postgresql"
cp -a "$pg_share" "$rootfs/usr/share/postgresql/"
# Debian's server reads time zones from the system's tzdata.
cp -a /usr/share/zoneinfo "$rootfs/usr/share/zoneinfo"
# Every library the dynamic loader will want, at the same path.
for object in "$rootfs$pg_lib"/bin/* "$rootfs$pg_lib"/lib/*.so; do
  ldd "$object" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}'
done | sort -u | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -Ln "$lib" "$rootfs$lib" 2>/dev/null || true
done
interp=$(readelf -l "$pg_lib/bin/postgres" | sed -n 's/.*interpreter: \(.*\)]/\1/p')
mkdir -p "$rootfs$(dirname "$interp")"
cp -Ln "$interp" "$rootfs$interp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh cat cut grep rm mkdir chmod ls ps sleep ip awk; do
  ln -sf busybox "$rootfs/bin/$applet"
done
install -m 0755 deploy/postgres/entrypoint.sh "$rootfs/bin/entrypoint"
# initdb asks `locale -a` for collations to import; the cluster is made
# --no-locale, so the answer is the two every C library has.
printf '#!/bin/sh\nprintf "C\\nPOSIX\\n"\n' >"$rootfs/bin/locale"
chmod 0755 "$rootfs/bin/locale"
printf 'root:x:0:0:root:/:/bin/sh\npostgres:x:%d:%d:PostgreSQL:/var/lib/postgresql:/bin/sh\n' \
  "$uid" "$uid" >"$rootfs/etc/passwd"
printf 'root:x:0:\npostgres:x:%d:\n' "$uid" >"$rootfs/etc/group"
chown -R "$uid:$uid" "$rootfs/var/run/postgresql" "$rootfs/var/lib/postgresql"
chmod 0700 "$rootfs/var/lib/postgresql/data"

# Tagged by content, like ghostpeer's image: a stack deploy restarts the
# database only when something in it changed.
digest=$(tar -C "$rootfs" --sort=name --mtime=@0 --numeric-owner -c . | sha256sum | cut -c1-12)
image="ghostpeer-postgres:$digest"
if ! docker image inspect "$image" >/dev/null 2>&1; then
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change "ENV PATH=$pg_lib/bin:/bin PGDATA=/var/lib/postgresql/data" \
    --change "USER postgres" \
    --change 'WORKDIR /var/lib/postgresql' \
    --change 'ENTRYPOINT ["/bin/entrypoint"]' \
    - "$image" >/dev/null
  echo "deploy: built image $image (PostgreSQL $version)" >&2
else
  echo "deploy: image $image is current" >&2
fi
docker tag "$image" ghostpeer-postgres:latest
echo "$image"

#!/usr/bin/env bash
# The README's set-up on a machine that has never seen kiln (ctest `fresh_machine`, label
# `fresh`): a clean Debian 12 container from the cached debootstrap base, with this machine's
# apt sources, gets a copy of the source tree (no build directory) and runs
# `scripts/install-deps.sh`, then `make configure` — exactly what `make run` / `make test` do
# before building — and builds the MLIR-free runtime library, so that a dev package that CMake
# does not look for but a header needs is caught too.
#
#   fresh_machine.sh [--keep]     --keep leaves the container for inspection
#
# Fails when any of it fails and prints the missing piece (the CMake error, or the failing
# command's last lines). Exits 77 (ctest: skipped) with the reason where podman cannot run
# containers, or where the container cannot reach the package mirror (nothing to verify then).
# Downloaded .debs and package lists are kept in two podman volumes between runs, so only the
# first run downloads (~1 GB); later ones only unpack.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
KEEP=0
[ "${1:-}" = --keep ] && KEEP=1
# shellcheck source=podman_lib.sh
source "$HERE/podman_lib.sh"
START=$SECONDS
log() { printf 'fresh: [%3ds] %s\n' $((SECONDS - START)) "$*"; }
die() { echo "fresh: FAILED: $*" >&2; exit 1; }
skip() { echo "fresh: SKIP: $*" >&2; exit 77; }

podman_preflight
command -v git >/dev/null || die "git is missing"
WORK=$(mktemp -d /var/tmp/kiln-fresh.XXXXXX)
NAME=kiln-fresh-$(date +%s)-$$
cleanup() {
  local rc=$?
  [ $KEEP = 1 ] || podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ensure_base_image

# This workplace's apt configuration is what a new machine here gets: the same sources (LLVM 22
# comes from bookworm-security, which the debootstrap base does not list) and the same apt
# settings, less the ones that only make sense on the host (the docker-clean hooks would delete
# the cached archives).
mkdir -p "$WORK/apt/sources.list.d" "$WORK/apt/apt.conf.d"
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && cp "$f" "$WORK/apt/sources.list.d/"
done
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$WORK/apt/sources.list"
for f in /etc/apt/apt.conf.d/*; do
  case "${f##*/}" in docker-*) continue ;; esac
  [ -f "$f" ] && cp "$f" "$WORK/apt/apt.conf.d/"
done
# Every key those sources are signed with (Signed-By paths and the trusted keyrings).
mkdir -p "$WORK/keyrings"
cp -L /usr/share/keyrings/*.gpg "$WORK/keyrings/" 2>/dev/null || true

# The source tree as a clean clone would have it, plus files not yet committed (so a missing
# install step is caught before the commit that needs it): tracked and untracked-but-not-ignored
# files, never a build directory.
git -C "$REPO" ls-files -z --cached --others --exclude-standard \
  | (cd "$REPO" && xargs -0 tar --ignore-failed-read -cf "$WORK/src.tar" 2>/dev/null) \
  || die "could not pack the source tree"
log "source tree: $(tar -tf "$WORK/src.tar" | wc -l) files"

for v in kiln-fresh-apt-archives kiln-fresh-apt-lists; do
  podman volume exists $v || podman volume create $v >/dev/null
done

# Inside the container: the apt configuration, then the two steps of `make`. The mirror check
# comes first so that an unreachable mirror is a skip (77), not a failure.
cat >"$WORK/inside.sh" <<'INSIDE'
set -uo pipefail
cp -r /fresh/apt/. /etc/apt/ && cp /fresh/keyrings/*.gpg /usr/share/keyrings/ 2>/dev/null
rm -f /etc/apt/apt.conf.d/docker-clean
if ! apt-get update -q >/tmp/update.log 2>&1; then
  tail -n 5 /tmp/update.log; exit 77
fi
mkdir -p /src && tar -xf /fresh/src.tar -C /src && cd /src
echo "== scripts/install-deps.sh"
# A fresh Debian 12 has no make: install-deps.sh is the README's step for that case, and it
# installs build-essential (make among it). Then `make configure` runs it again (a no-op).
if ! ./scripts/install-deps.sh >/tmp/deps.log 2>&1; then
  tail -n 30 /tmp/deps.log; echo "install-deps.sh failed"; exit 1
fi
grep -m1 'missing Debian packages' /tmp/deps.log || true
echo "== make configure"
if ! make configure BUILD_DIR=/build >/tmp/configure.log 2>&1; then
  cat /tmp/configure.log; echo "make configure failed"; exit 1
fi
# Optional components say so at configure time; on a machine set up by install-deps.sh none of
# them may be missing (else install-deps.sh lacks a package).
if cmake -LA -N /build 2>/dev/null | grep -q 'KILN_DNNL_CONFIG:FILEPATH=.*NOTFOUND' ||
   ! grep -q 'kiln-onednn-peer' /build/build.ninja; then
  cat /tmp/configure.log; echo "configure left out the oneDNN peer: install-deps.sh misses a package"; exit 1
fi
echo "== cmake --build /build --target kiln_runtime_service"
if ! cmake --build /build --target kiln_runtime_service >/tmp/build.log 2>&1; then
  tail -n 40 /tmp/build.log; echo "building the runtime failed"; exit 1
fi
echo "fresh machine: install-deps, configure and the runtime build passed"
INSIDE
log "container $NAME: install-deps.sh, make configure, runtime build"
set +e
"${PODMAN[@]}" run --name "$NAME" "${LIMITS[@]}" \
  -v "$WORK:/fresh:ro" \
  -v kiln-fresh-apt-archives:/var/cache/apt/archives \
  -v kiln-fresh-apt-lists:/var/lib/apt/lists \
  "$BASE_IMAGE" bash /fresh/inside.sh 2>&1 | sed 's/^/fresh: | /'
rc=${PIPESTATUS[0]}
set -e
case $rc in
  0) log "passed" ;;
  77) skip "the container cannot reach the package mirror (apt-get update failed; see above)" ;;
  *) die "a fresh Debian 12 cannot set up kiln (exit $rc); the missing piece is above" ;;
esac

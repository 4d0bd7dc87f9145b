#!/usr/bin/env bash
# Containerized integration tests of kilnd, and the image build behind them.
#
#   run.sh [--build-dir DIR]          the test (ctest `integration_container`): builds a kiln
#                                     image from the current build, runs container_test.py
#                                     against kilnd containers, removes everything it made
#                                     except the cached base image `kiln-base`
#   run.sh image [--build-dir DIR] [--tag TAG]
#                                     builds the image and keeps it (default localhost/kiln:latest),
#                                     for `podman run` and compose.yaml
#
# Installs nothing (scripts/install-deps.sh installs podman, runc, debootstrap, podman-compose).
# The test exits 77 (ctest: skipped) with the reason when podman cannot run containers here.
# Containers run with runc and bounded ulimits (the defaults fail on this kind of host), and
# publish their ports on loopback only.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${KILN_BUILD_DIR:-$REPO/build}
PYTHON=${KILN_PYTHON:-/usr/bin/python3}
BASE_IMAGE=localhost/kiln-base:latest
MODE=test
TAG=
if [ "${1:-}" = image ]; then MODE=image; shift; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --python) PYTHON=$2; shift 2 ;;
    *) echo "usage: $0 [image] [--build-dir DIR] [--tag TAG] [--python PY]" >&2; exit 2 ;;
  esac
done
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
RUN_ID=$(date +%s)-$$
[ -n "$TAG" ] || if [ $MODE = image ]; then TAG=localhost/kiln:latest; else TAG=localhost/kiln:test-$RUN_ID; fi

PODMAN=(podman --runtime runc)
LIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
START=$SECONDS
log() { printf 'container: [%3ds] %s\n' $((SECONDS - START)) "$*"; }
die() { echo "container: error: $*" >&2; exit 1; }
# In test mode an environment that cannot run containers is a skip, not a failure.
skip() {
  if [ $MODE = test ]; then echo "container: SKIP: $*" >&2; exit 77; fi
  die "$*"
}

# --- can podman run containers here? ---
command -v podman >/dev/null || skip "podman is not installed (scripts/install-deps.sh installs it)"
[ "$(id -u)" -eq 0 ] || skip "not root: these tests run rootful podman (uid $(id -u))"
command -v runc >/dev/null || skip "runc is not installed (scripts/install-deps.sh installs it)"
err=$("${PODMAN[@]}" info 2>&1 >/dev/null) || skip "'podman info' fails: ${err##*$'\n'}"
for tool in ldd dpkg-query; do command -v $tool >/dev/null || die "$tool is missing"; done
for f in "$BUILD_DIR/server/kilnd" "$BUILD_DIR/client_cli/kiln"; do
  [ -x "$f" ] || die "$f is not built (ninja -C $BUILD_DIR kilnd kiln)"
done

WORK=$(mktemp -d /var/tmp/kiln-container.XXXXXX)
cleanup() {
  local rc=$?
  if [ $MODE = test ]; then
    # Whatever the test left behind (it removes its own containers, volumes and networks).
    local ids label
    for label in "kiln.test-run=$RUN_ID" "io.podman.compose.project=kiln-test-$RUN_ID"; do
      ids=$(podman ps -aq --filter "label=$label" 2>/dev/null || true)
      [ -z "$ids" ] || podman rm -f -t 0 $ids >/dev/null 2>&1 || true
      ids=$(podman volume ls -q --filter "label=$label" 2>/dev/null || true)
      [ -z "$ids" ] || podman volume rm -f $ids >/dev/null 2>&1 || true
    done
    podman network rm -f "kiln-test-${RUN_ID}_default" >/dev/null 2>&1 || true
    podman image exists "$TAG" 2>/dev/null && podman rmi -f "$TAG" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the base image: debootstrap once, then cached in podman's store ---
# The Debian mirror this machine's apt uses (never a hard-coded host): the first `deb` source
# with suite bookworm, from deb822 files or the one-line format.
apt_mirror() {
  local f uri=
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
      { types = uris = suites = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:/) types = $i; else if ($i ~ /^URIs:/) uris = $i; else if ($i ~ /^Suites:/) suites = $i
        }
        if (types ~ /[ \t]deb([ \t]|$)/ && suites ~ /[ \t]bookworm([ \t]|$)/) { split(uris, u, /[ \t]+/); print u[2]; exit } }' "$f")
    [ -z "$uri" ] || { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while (i <= NF && $i !~ /\]$/) i++; if ($2 ~ /^\[/) i++
                             if ($(i + 1) == "bookworm") { print $i; exit } }' "$f")
    [ -z "$uri" ] || { echo "$uri"; return; }
  done
}

make_base() {
  command -v debootstrap >/dev/null || skip "debootstrap is not installed (scripts/install-deps.sh installs it)"
  local mirror=${KILN_DEBIAN_MIRROR:-$(apt_mirror)}
  [ -n "$mirror" ] || die "no bookworm 'deb' source in /etc/apt (set KILN_DEBIAN_MIRROR)"
  # debootstrap does not read apt's configuration: hand it apt's proxy, if any.
  if [ -z "${http_proxy:-}" ]; then
    local proxy
    proxy=$(apt-config shell P Acquire::http::Proxy 2>/dev/null | sed -n "s/^P='\(.*\)'$/\1/p")
    [ -z "$proxy" ] || export http_proxy=$proxy
  fi
  log "making $BASE_IMAGE: debootstrap --variant=minbase bookworm from $mirror"
  if ! debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 20 "$WORK/debootstrap.log" >&2
    skip "debootstrap of the base image failed (is $mirror reachable?); log above"
  fi
  tar -C "$WORK/rootfs" -c . | podman import --message "debootstrap minbase bookworm" - "$BASE_IMAGE" >/dev/null
  rm -rf "$WORK/rootfs"
}

# Concurrent runs would debootstrap twice: serialize the check-and-make.
exec 9>/var/lock/kiln-container-base.lock
flock 9
podman image exists "$BASE_IMAGE" || make_base
flock -u 9
err=$("${PODMAN[@]}" run --rm --network none "${LIMITS[@]}" "$BASE_IMAGE" true 2>&1) \
  || skip "podman cannot run a trivial container here: ${err##*$'\n'}"
log "base image $BASE_IMAGE ready"

# --- the build context: binaries, their library closure, the example models ---
CTX=$WORK/context
mkdir -p "$CTX/bin" "$CTX/lib"
for b in server/kilnd client_cli/kiln; do
  # Debug info is most of the binary and useless in the image.
  strip --strip-debug -o "$CTX/bin/${b##*/}" "$BUILD_DIR/$b" 2>/dev/null || cp "$BUILD_DIR/$b" "$CTX/bin/"
done
cp -r "$REPO/examples" "$CTX/examples"
find "$CTX/examples" -name '*.py' -delete

# Which packages (and versions) the base has: a library of one of those, at least as new as the
# host's, is used from the base; everything else is copied (see Containerfile for why).
declare -A base_version host_version owner
while read -r pkg ver; do base_version[$pkg]=$ver; done \
  < <("${PODMAN[@]}" run --rm --network none "${LIMITS[@]}" "$BASE_IMAGE" \
        dpkg-query -W -f '${Package} ${Version}\n')
closure=$(ldd "$BUILD_DIR/server/kilnd" "$BUILD_DIR/client_cli/kiln")
if grep -q 'not found' <<<"$closure"; then die "unresolved libraries on the host: $(grep 'not found' <<<"$closure")"; fi
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $1 " " $3 }' <<<"$closure" | sort -u)
# dpkg knows a file under /lib or /usr/lib (merged /usr), so ask for both spellings at once.
paths=()
for entry in "${libs[@]}"; do p=${entry#* }; paths+=("$p" "/usr$p" "${p#/usr}"); done
while IFS= read -r line; do
  pkgs=${line%%: /*}; path=${line#*: }
  pkg=${pkgs%%,*}; pkg=${pkg%%:*}
  owner[${path#/usr}]=$pkg
done < <(dpkg-query -S "${paths[@]}" 2>/dev/null | grep -v '^diversion' || true)
copied=0; from_base=0
for entry in "${libs[@]}"; do
  name=${entry%% *}; path=${entry#* }
  pkg=${owner[${path#/usr}]:-}
  if [ -n "$pkg" ] && [ -n "${base_version[$pkg]:-}" ]; then
    host_version[$pkg]=${host_version[$pkg]:-$(dpkg-query -W -f '${Version}' "$pkg")}
    if dpkg --compare-versions "${base_version[$pkg]}" ge "${host_version[$pkg]}"; then
      from_base=$((from_base + 1)); continue
    fi
  fi
  cp -L "$path" "$CTX/lib/$name"
  copied=$((copied + 1))
done
log "context: $copied libraries copied, $from_base from the base, $(du -sh "$CTX" | cut -f1) in all"

# --- the image ---
# docker format keeps HEALTHCHECK (OCI images have no field for it); one layer, no registry.
previous=$(podman image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)
"${PODMAN[@]}" build --format docker --layers=false --pull=never "${LIMITS[@]}" \
  --build-arg BASE="$BASE_IMAGE" -f "$HERE/Containerfile" -t "$TAG" "$CTX" >"$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log" >&2; die "podman build failed"; }
rm -rf "$CTX"
# A rebuild under the same tag leaves the previous image untagged: drop it unless still used.
if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$TAG")" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi
log "built $TAG ($(podman image inspect --format '{{.Size}}' "$TAG" | awk '{ printf "%d MB", $1 / 1e6 }'))"
if [ $MODE = image ]; then
  exit 0
fi

# --- the suite: kilnd containers driven from the host ---
"$PYTHON" "$HERE/container_test.py" --image "$TAG" --run-id "$RUN_ID" \
  --kiln "$BUILD_DIR/client_cli/kiln" --client-dir "$BUILD_DIR/client_cli/python" \
  --examples "$REPO/examples"
log "passed"

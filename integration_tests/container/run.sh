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

# shellcheck source=podman_lib.sh
source "$HERE/podman_lib.sh"
START=$SECONDS
log() { printf 'container: [%3ds] %s\n' $((SECONDS - START)) "$*"; }
die() { echo "container: error: $*" >&2; exit 1; }
# In test mode an environment that cannot run containers is a skip, not a failure.
skip() {
  if [ $MODE = test ]; then echo "container: SKIP: $*" >&2; exit 77; fi
  die "$*"
}

# --- can podman run containers here? ---
podman_preflight
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
ensure_base_image

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

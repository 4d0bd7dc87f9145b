# Shared by the container suites (run.sh, fresh_machine.sh): sourced, not run.
#
# The caller defines log, die and skip (skip: exit 77 for ctest, or die when not testing) and
# sets WORK (a scratch directory) before calling these.
#   podman_preflight      skips unless rootful podman with runc can run here
#   ensure_base_image     makes localhost/kiln-base (debootstrap minbase bookworm) once, cached
#                         in podman's store, and checks that a trivial container starts
#   apt_mirror            the bookworm mirror this machine's apt uses
PODMAN=(podman --runtime runc)
# The default ulimits fail on this kind of host.
LIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
BASE_IMAGE=localhost/kiln-base:latest

podman_preflight() {
  command -v podman >/dev/null || skip "podman is not installed (scripts/install-deps.sh installs it)"
  [ "$(id -u)" -eq 0 ] || skip "not root: these tests run rootful podman (uid $(id -u))"
  command -v runc >/dev/null || skip "runc is not installed (scripts/install-deps.sh installs it)"
  local err
  err=$("${PODMAN[@]}" info 2>&1 >/dev/null) || skip "'podman info' fails: ${err##*$'\n'}"
}

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

# debootstrap does not read apt's configuration: hand it apt's proxy, if any.
export_apt_proxy() {
  if [ -z "${http_proxy:-}" ]; then
    local proxy
    proxy=$(apt-config shell P Acquire::http::Proxy 2>/dev/null | sed -n "s/^P='\(.*\)'$/\1/p")
    [ -z "$proxy" ] || export http_proxy=$proxy
  fi
}

make_base() {
  command -v debootstrap >/dev/null || skip "debootstrap is not installed (scripts/install-deps.sh installs it)"
  local mirror=${KILN_DEBIAN_MIRROR:-$(apt_mirror)}
  [ -n "$mirror" ] || die "no bookworm 'deb' source in /etc/apt (set KILN_DEBIAN_MIRROR)"
  export_apt_proxy
  log "making $BASE_IMAGE: debootstrap --variant=minbase bookworm from $mirror"
  if ! debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 20 "$WORK/debootstrap.log" >&2
    skip "debootstrap of the base image failed (is $mirror reachable?); log above"
  fi
  tar -C "$WORK/rootfs" -c . | podman import --quiet --message "debootstrap minbase bookworm" - "$BASE_IMAGE" >/dev/null
  rm -rf "$WORK/rootfs"
}

ensure_base_image() {
  # Concurrent runs would debootstrap twice: serialize the check-and-make.
  exec 9>/var/lock/kiln-container-base.lock
  flock 9
  podman image exists "$BASE_IMAGE" || make_base
  flock -u 9
  local err
  err=$("${PODMAN[@]}" run --rm --network none "${LIMITS[@]}" "$BASE_IMAGE" true 2>&1) \
    || skip "podman cannot run a trivial container here: ${err##*$'\n'}"
  log "base image $BASE_IMAGE ready"
}

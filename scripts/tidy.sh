#!/usr/bin/env bash
# clang-tidy-22 with the repo's .clang-tidy over kiln's tracked .cc files (their kiln headers come
# along through HeaderFilterRegex), using the build's compilation database, -j$(nproc) at a time.
# Every finding is an error (WarningsAsErrors): the script checks all the files, prints each
# file's findings together and exits 1 if there were any.
#   scripts/tidy.sh               every tracked .cc file that BUILD_DIR/compile_commands.json builds
#   scripts/tidy.sh FILE...       only these (each must be in the compilation database)
# Environment: BUILD_DIR (default build, relative to the repo root; `make build` makes it), JOBS
# (default nproc), CLANG_TIDY (default clang-tidy-22, pinned like clang-format: other versions
# have other checks).
# .ci/run runs it after `make test` (whose build made the compilation database and the generated
# headers): a full run keeps both cores of a 2-core machine busy for about 5 minutes (most files
# pull in MLIR/LLVM's headers), and a cold .ci/run with it stays under 45 minutes. By hand:
# `make tidy` (which builds first: the generated protobuf and MLIR headers must exist).
set -euo pipefail
caller=$(pwd)
cd "$(dirname "$0")/.."
CLANG_TIDY=${CLANG_TIDY:-clang-tidy-22}
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
command -v "$CLANG_TIDY" >/dev/null || {
  echo "tidy: $CLANG_TIDY not found (scripts/install-deps.sh installs clang-tidy-22)" >&2
  exit 1
}
db="$BUILD_DIR/compile_commands.json"
[ -f "$db" ] || {
  echo "tidy: no $db; configure the build first (make build)" >&2
  exit 1
}

# The sources the build compiles, relative to the repo root. A full run takes the tracked ones
# among them: the generated protobuf sources under the build directory are not kiln's code.
root=$(pwd -P)
mapfile -t built < <(/usr/bin/python3 -c '
import json, os, sys
root = sys.argv[2]
for entry in json.load(open(sys.argv[1])):
    path = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
    if path.startswith(root + "/"):
        print(os.path.relpath(path, root))
' "$db" "$root" | sort -u)

if [ $# -gt 0 ]; then
  files=()
  for f in "$@"; do
    rel=$(cd "$caller" && realpath -m --relative-to="$root" "$f")
    if ! printf '%s\n' "${built[@]}" | grep -qxF "$rel"; then
      echo "tidy: $f is not in $db" >&2
      exit 1
    fi
    files+=("$rel")
  done
else
  # Tracked .cc files only; one the build does not compile (a target switched off in this
  # configuration) is listed and skipped.
  mapfile -t files < <(git ls-files '*.cc' | sort | comm -12 - <(printf '%s\n' "${built[@]}"))
  mapfile -t skipped < <(git ls-files '*.cc' | sort | comm -23 - <(printf '%s\n' "${built[@]}"))
  for f in "${skipped[@]}"; do
    [ -n "$f" ] && echo "tidy: skipping $f (not in $db)" >&2
  done
fi

# GCC flags in the database that clang does not know must not stop it; -Werror only turns
# clang's own warnings into errors, and those are not what this check is about.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export CLANG_TIDY BUILD_DIR out
tidy_one() {
  local log
  log="$out/$(echo "$1" | tr / _).log"
  if "$CLANG_TIDY" -p "$BUILD_DIR" --quiet --extra-arg=-Wno-unknown-warning-option \
    --extra-arg=-Wno-error "$1" >"$log" 2>&1; then
    rm -f "$log"
  else
    # One file's findings at a time, not interleaved with the others'.
    grep -v ' warnings\? generated\.$' "$log" || true
    return 1
  fi
}
export -f tidy_one
start=$SECONDS
status=0
# shellcheck disable=SC2016  # $0 is for the inner bash: the file name xargs passes
printf '%s\0' "${files[@]}" | xargs -0 -n 1 -P "$JOBS" bash -c 'tidy_one "$0"' || status=1
bad=$(find "$out" -name '*.log' | wc -l)
if [ $status -ne 0 ]; then
  echo "tidy: findings in $bad of ${#files[@]} files ($((SECONDS - start))s)" >&2
  exit 1
fi
echo "tidy: ${#files[@]} files clean ($((SECONDS - start))s)"

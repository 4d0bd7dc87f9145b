#!/usr/bin/env bash
# The format check of .ci/run: every tracked C/C++ file is as clang-format-22 (.clang-format)
# would write it.
#   scripts/check-format.sh          lists the files that differ, with the first diff lines
#   scripts/check-format.sh --fix    rewrites them in place
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG_FORMAT=${CLANG_FORMAT:-clang-format-22}
command -v "$CLANG_FORMAT" >/dev/null || {
  echo "check-format: $CLANG_FORMAT not found (scripts/install-deps.sh installs clang-format-22)" >&2
  exit 1
}
mapfile -t files < <(git ls-files '*.cc' '*.h' '*.c')
if [ "${1:-}" = --fix ]; then
  "$CLANG_FORMAT" -i "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! diff -q "$f" <("$CLANG_FORMAT" "$f") >/dev/null; then
    echo "check-format: $f is not formatted:"
    diff -u "$f" <("$CLANG_FORMAT" "$f") --label "$f" --label "$f (formatted)" | sed -n '3,14p'
    bad=$((bad + 1))
  fi
done
if [ $bad -gt 0 ]; then
  echo "check-format: $bad of ${#files[@]} files differ; run scripts/check-format.sh --fix" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"

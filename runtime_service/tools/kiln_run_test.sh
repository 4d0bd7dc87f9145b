#!/bin/sh
# kiln-run end to end: kiln_run_test.sh KILN_RUN MAKE_TEST_MODULE TEST_LIBRARY WORKDIR
# Builds a module around the hand-written test library, runs its functions under both
# execution models and checks the printed numbers, .npy in/out, and that every bad input is
# an exit code 1 with a "kiln-run: " message, never a crash.
set -u
run=$1 make_module=$2 library=$3 dir=$4
rm -rf "$dir" && mkdir -p "$dir" || exit 1
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect_ok EXPECTED_STDOUT ARGS...: exit 0 and exactly that output.
expect_ok() {
  expected=$1
  shift
  out=$("$run" "$@" 2>"$dir/stderr")
  code=$?
  [ "$code" -eq 0 ] || fail "kiln-run $* exited $code: $(cat "$dir/stderr")"
  [ "$out" = "$expected" ] || fail "kiln-run $*: got '$out', want '$expected'"
}

# expect_error MESSAGE_SUBSTRING ARGS...: exit 1, stderr "kiln-run: ...MESSAGE...".
expect_error() {
  message=$1
  shift
  "$run" "$@" >"$dir/stdout" 2>"$dir/stderr"
  code=$?
  [ "$code" -eq 1 ] || fail "kiln-run $* exited $code, want 1 (stderr: $(cat "$dir/stderr"))"
  grep -q "^kiln-run: .*$message" "$dir/stderr" ||
    fail "kiln-run $*: stderr '$(cat "$dir/stderr")' lacks 'kiln-run: ...$message'"
}

"$make_module" "$dir/m.kmod" "$library" || exit 1
m="--module=$dir/m.kmod"
a="2x3xf32=1,2,3,4,5,6"
b="2x3xf32=2.5,3.5,4,5,6,7.5"

# "add" is an async-model function; "add_scale" is inline with a barrier between two dispatches.
for device in "" --device=local-task --device=local-sync; do
  expect_ok "result0: f32[2x3] = [3.5, 5.5, 7, 9, 11, 13.5]" $m --function add --input $a \
    --input $b $device
  expect_ok "sum: f32[2x3] = [3.5, 5.5, 7, 9, 11, 13.5]
doubled: f32[2x3] = [7, 11, 14, 18, 22, 27]" $m --function=add_scale --input $a \
    --input "b=$b" $device --workers 2
done
# Named inputs in any order.
expect_ok "result0: f32[2x3] = [3.5, 5.5, 7, 9, 11, 13.5]" $m --function add --input "b=$b" \
  --input "a=$a" --workers 1

# --profile: one line per dispatch command (add_scale has two), each run once per invocation.
out=$("$run" $m --function add_scale --input $a --input $b --profile 3 2>"$dir/stderr") ||
  fail "kiln-run --profile exited $?: $(cat "$dir/stderr")"
echo "$out" | head -1 | grep -q "^3 runs, .* ms per run (inline, one thread), .* in 2 dispatches$" ||
  fail "kiln-run --profile header: $out"
[ "$(echo "$out" | grep -c " add_scale\| main\|%  *[0-9]")" -ge 2 ] ||
  fail "kiln-run --profile rows: $out"
expect_error "profile" $m --function add --input $a --input $b --profile 0

# .npy out, then back in.
expect_ok "sum: f32[2x3] = [3.5, 5.5, 7, 9, 11, 13.5]
doubled: f32[2x3] = [7, 11, 14, 18, 22, 27]" $m --function add_scale --input $a --input $b \
  --output "@$dir/sum.npy" --output "$dir/doubled.npy"
expect_ok "result0: f32[2x3] = [10.5, 16.5, 21, 27, 33, 40.5]" $m --function add \
  --input "@$dir/sum.npy" --input "@$dir/doubled.npy" --device local-task

# Errors: exit 1 with a message.
expect_error "export 'fail' failed with code 7" $m --function fail
expect_error "export 'fail' failed with code 7" $m --function fail --device local-task
expect_error "has no function 'nope'; it has: add, add_scale, fail" $m --function nope
expect_error "expects 2 inputs, got 1" $m --function add --input $a
expect_error "expected f32\[2x3\], got f32\[6\]" $m --function add --input 6xf32=1,2,3,4,5,6 \
  --input $b
expect_error "--input 2x3xf32=1,2: " $m --function add --input 2x3xf32=1,2 --input $b
expect_error "3 --output files given" $m --function add --input $a --input $b \
  --output "@$dir/1.npy" --output "@$dir/2.npy" --output "@$dir/3.npy"
expect_error "local-tusk" $m --function add --device local-tusk
expect_error "--module is required" --function add

# Bad module files.
expect_error "cannot open module file '$dir/missing.kmod'" --module "$dir/missing.kmod"
head -c 100 "$dir/m.kmod" >"$dir/truncated.kmod"
expect_error "truncated" --module "$dir/truncated.kmod"
echo "this is not a module, just text that is long enough to have a header's worth of bytes" \
  >"$dir/text.kmod"
expect_error "not a kiln module file" --module "$dir/text.kmod"
: >"$dir/empty.kmod"
expect_error "not a kiln module file" --module "$dir/empty.kmod"
expect_error "is not a regular file" --module "$dir"
# A flipped byte inside the executable segment: its SHA-256 no longer matches.
size=$(wc -c <"$dir/m.kmod")
cp "$dir/m.kmod" "$dir/corrupt.kmod"
printf 'X' | dd of="$dir/corrupt.kmod" bs=1 seek=$((size - 200)) conv=notrunc 2>/dev/null
expect_error "$dir/corrupt.kmod: " --module "$dir/corrupt.kmod"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "kiln-run: all checks passed"

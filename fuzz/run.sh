#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (the `== fuzz` step of .ci/run).
#
# Builds all targets once with cargo-fuzz (installed when missing; the stable toolchain
# takes its nightly flags through RUSTC_BOOTSTRAP=1), seeds a temporary corpus per target
# from the shared test material and fuzz/seeds/, then runs each target in turn for
# FUZZ_SECONDS_PER_TARGET seconds; unset, each gets an equal share of what is left of
# FUZZ_STEP_SECONDS (default 285, so the step stays under 5 minutes) after the build,
# at most 20 s and at least 5 s (after a cold build of about 4 minutes, the floor
# wins). Exits non-zero when a target crashes, leaks, times out or runs out of memory,
# and prints where the input that did it is kept (outside the clone, in FUZZ_ARTIFACTS).
#
#   fuzz/run.sh                    # every target
#   fuzz/run.sh import_docx        # some targets
#   FUZZ_SECONDS_PER_TARGET=300 fuzz/run.sh envelope
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

budget_seconds="${FUZZ_STEP_SECONDS:-285}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
# Cached between runs, outside the clone: a cold build takes minutes.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/tmp/switchyard-fuzz-target}"
artifacts="${FUZZ_ARTIFACTS:-/var/tmp/switchyard-fuzz-artifacts}"
testdata="${SWITCHYARD_TESTDATA:-$repo/../shared/testdata}"
[ -d "$testdata" ] || testdata=/work/shared/testdata
if [ ! -d "$testdata" ]; then
  echo "fuzz: no shared test material (set SWITCHYARD_TESTDATA)" >&2
  exit 1
fi

# The sanitizer and coverage flags are nightly-only; the stable toolchain accepts them
# under RUSTC_BOOTSTRAP. -O -a: optimised, with overflow checks and debug assertions.
RUSTC_BOOTSTRAP=1 cargo fuzz build -O -a
bin_dir="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"

# In memory where there is a tmpfs: the importer targets write a file per input.
if [ -z "${FUZZ_WORK_PARENT:-}" ]; then
  FUZZ_WORK_PARENT="${TMPDIR:-/tmp}"
  [ -d /dev/shm ] && [ -w /dev/shm ] && FUZZ_WORK_PARENT=/dev/shm
fi
work=$(mktemp -d "$FUZZ_WORK_PARENT/switchyard-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The importer targets write their input to a file per process under TMPDIR.
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"

# seed TARGET FIND-ARGS...: copies the shared files matching FIND-ARGS into TARGET's corpus.
seed() {
  local target=$1
  shift
  local corpus="$work/corpus/$target"
  mkdir -p "$corpus"
  find "$testdata" -type f \( "$@" \) -size -2M -exec cp -t "$corpus" {} + 2>/dev/null || true
  if [ -d "fuzz/seeds/$target" ]; then cp fuzz/seeds/"$target"/* "$corpus"/; fi
}
seed envelope -name 'spec-json-examples.json'
cp fuzz/seeds/events_request/* "$work/corpus/envelope/"
seed events_request -name 'spec-json-examples.json'
cp fuzz/seeds/envelope/* "$work/corpus/events_request/"
seed import_eml -name '*.eml'
seed import_mbox -name '*.mbox'
seed import_ics -name '*.ics'
seed import_vcf -name '*.vcf'
seed import_docx -name '*.docx'
seed import_xlsx -name '*.xlsx' -o -name '*.xlsm'
seed import_pptx -name '*.pptx'
seed import_jsonl -name '*.jsonl'
cp crates/switchyard-office/tests/fixtures/*.jsonl "$work/corpus/import_jsonl/"

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

if [ -n "${FUZZ_SECONDS_PER_TARGET:-}" ]; then
  seconds=$FUZZ_SECONDS_PER_TARGET
else
  # Each run takes about 2 s more than its fuzzing time (start, corpus loading).
  seconds=$(((budget_seconds - SECONDS) / ${#targets[@]} - 2))
  [ "$seconds" -gt 20 ] && seconds=20
  [ "$seconds" -lt 5 ] && seconds=5
fi
echo "fuzz: ${#targets[@]} targets, ${seconds} s each (built and seeded in ${SECONDS} s)"

failed=()
for target in "${targets[@]}"; do
  mkdir -p "$artifacts/$target" "$work/corpus/$target"
  log="$work/$target.log"
  started=$SECONDS
  if "$bin_dir/$target" "$work/corpus/$target" \
    -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 \
    -artifact_prefix="$artifacts/$target/" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $target ok ($((SECONDS - started)) s, ${runs:-?} runs, $(ls "$work/corpus/$target" | wc -l) corpus inputs)"
  else
    echo "fuzz: $target FAILED after $((SECONDS - started)) s:"
    grep -A2 -m1 "panicked at" "$log" || true
    grep -E "^(==[0-9]+== ?ERROR|SUMMARY|MS:)" "$log" || tail -n 40 "$log"
    grep -o "Test unit written to .*" "$log" | sed 's/^/fuzz: /' || true
    echo "fuzz: reproduce with: $bin_dir/$target <that file>"
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds} s each without a crash"

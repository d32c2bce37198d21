#!/bin/sh
# fuzz suite: runs one libFuzzer target for a fixed time over a scratch copy
# of its seed corpus. Usage: run-fuzz.sh TARGET-BINARY SEED-DIR SECONDS
# With no binary (clang or libFuzzer missing at configure time), SKIP (77).
bin=$1 seeds=$2 secs=$3
if [ ! -x "$bin" ]; then
    echo "SKIP: ${SKIP_REASON:-fuzz target not built}"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/terrarium-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
# New inputs go to the scratch corpus; the seeds in the source tree stay untouched.
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
rc=$?
if [ $rc -ne 0 ]; then
    keep=$(dirname "$bin")/artifacts
    mkdir -p "$keep" && cp "$work"/artifacts/* "$keep"/ 2>/dev/null
    echo "fuzz target failed (exit $rc); crashing inputs copied to $keep"
fi
exit $rc

#!/usr/bin/env bash
# Set up .venv if needed, then run the main job on the embedded default: the local sandbox
# emulator of the four APIs (no keys needed). Two acts:
#   1. documented shapes: capture -> check -> diff -> lock (the review step) -> gate -> merge
#   2. vendor-docs shapes (what the vendors' own reference describes): the same gate refuses
#      the merge and names the drifted fields the merge reads.
# Everything is written to a temporary directory; the repository is not touched.
source "$(dirname "$0")/_env.sh"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/verify-demo.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
END="$(date -u -d 'yesterday' +%Y-%m-%d)"
START="$(date -u -d "$END - 13 days" +%Y-%m-%d)"
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then BOLD=$'\033[1m' RESET=$'\033[0m'; else BOLD="" RESET=""; fi
step() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$RESET"; }

step "1. capture the documented scenario from the sandbox ($START .. $END)"
verify capture --sandbox --scenario documented --start "$START" --end "$END" \
    --out "$WORK/documented" 2>/dev/null
step "   check against the JSON Schemas"
verify check "$WORK/documented"
step "   diff against the documented shapes"
verify diff --against documented "$WORK/documented"
step "   lock the reviewed capture"
verify lock --locks-dir "$WORK/locks" "$WORK/documented" >/dev/null
ls "$WORK/locks"
step "   gate, then merge credits and dollars per person per day"
verify gate --locks-dir "$WORK/locks" "$WORK/documented"
verify merge --locks-dir "$WORK/locks" --out "$WORK/spend.csv" "$WORK/documented"
step "   first rows of the merged table"
head -n 6 "$WORK/spend.csv" | cut -c1-160

step "2. capture the vendor-docs scenario: the live shapes drift from the documented ones"
verify capture --sandbox --scenario vendor-docs --start "$START" --end "$END" \
    --out "$WORK/vendor-docs" 2>/dev/null || true
step "   the gate refuses the merge (exit 1 expected)"
set +e
verify merge --locks-dir "$WORK/locks" --out "$WORK/refused.csv" "$WORK/vendor-docs" \
    --format csv >"$WORK/refusal.txt" 2>&1
code=$?
set -e
grep -E "BREAKING|refused" "$WORK/refusal.txt" | head -n 25
if [ "$code" -ne 1 ] || [ -e "$WORK/refused.csv" ]; then
    echo "demo: expected the drifted merge to be refused (exit 1, no output), got exit $code" >&2
    exit 1
fi
step "3. a human reviews the drift, accepts it, and the merge runs on the real shape"
verify diff --against lock --locks-dir "$WORK/locks" "$WORK/vendor-docs" \
    >"$WORK/review.txt" 2>&1 || true
echo "(review: $(grep -c -E 'BREAKING|WARNING' "$WORK/review.txt") finding line(s) in verify diff --against lock)"
verify lock --accept --reviewer demo-reviewer --locks-dir "$WORK/locks" "$WORK/vendor-docs" \
    >/dev/null
verify gate --locks-dir "$WORK/locks" "$WORK/vendor-docs"
verify merge --locks-dir "$WORK/locks" --out "$WORK/accepted.csv" "$WORK/vendor-docs"
step "   first rows of the merged table, read through the accepted lock"
head -n 4 "$WORK/accepted.csv" | cut -c1-160

step "demo finished: documented pipeline passed; drift was refused, reviewed, accepted and merged"

#!/usr/bin/env bash
# Capture all four analytics surfaces for the last N days, then check and diff them.
#
#   scripts/codex-analytics-capture.sh [--sandbox] [DAYS] [OUT_DIR]
#
# Live keys come from the environment only (never from arguments):
#   OPENAI_ADMIN_KEY       OpenAI admin key (usage, costs, users)
#   CODEX_ANALYTICS_KEY    ChatGPT key with codex.enterprise.analytics.read
#   CHATGPT_WORKSPACE_ID   ChatGPT workspace id
# --sandbox captures from the built-in emulator instead and needs none of them.
#
# Exit code: the worst of capture, check and diff (0 pass, 1 findings, 2 usage, 3 network).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$ROOT/.venv/bin/verify" ]; then
    VERIFY=("$ROOT/.venv/bin/verify")
    PYTHON="$ROOT/.venv/bin/python"
else
    VERIFY=(verify)
    PYTHON="${PYTHON:-python3}"
fi

SANDBOX=()
if [ "${1:-}" = "--sandbox" ]; then
    SANDBOX=(--sandbox)
    shift
fi
DAYS="${1:-30}"
OUT="${2:-captures/live-$(date -u +%Y%m%dT%H%M%SZ)}"

case "$DAYS" in
    '' | *[!0-9]*) echo "codex-analytics-capture: DAYS must be a whole number, got '$DAYS'" >&2; exit 2 ;;
esac
if [ "$DAYS" -lt 1 ]; then
    echo "codex-analytics-capture: DAYS must be at least 1" >&2
    exit 2
fi

if [ ${#SANDBOX[@]} -eq 0 ]; then
    missing=()
    for var in OPENAI_ADMIN_KEY CODEX_ANALYTICS_KEY CHATGPT_WORKSPACE_ID; do
        if [ -z "${!var:-}" ]; then
            missing+=("$var")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "codex-analytics-capture: environment variable(s) not set: ${missing[*]}" >&2
        echo "codex-analytics-capture: export them, or run with --sandbox to try the tool" >&2
        exit 2
    fi
fi

# Portable date arithmetic (GNU and BSD `date` disagree): the last DAYS days, today included.
read -r START END < <("$PYTHON" -c '
import sys
from datetime import UTC, datetime, timedelta
end = datetime.now(UTC).date()
print((end - timedelta(days=int(sys.argv[1]) - 1)).isoformat(), end.isoformat())
' "$DAYS")

worst=0
record() { if [ "$1" -gt "$worst" ]; then worst="$1"; fi; }

echo "== capture $START..$END -> $OUT"
status=0
"${VERIFY[@]}" capture "${SANDBOX[@]}" --start "$START" --end "$END" --out "$OUT" || status=$?
record "$status"
if [ "$status" -ge 2 ]; then
    echo "codex-analytics-capture: capture failed (exit $status); nothing to check" >&2
    exit "$status"
fi

echo "== check $OUT"
status=0
"${VERIFY[@]}" check "$OUT" || status=$?
record "$status"

if "${VERIFY[@]}" diff --help >/dev/null 2>&1; then
    echo "== diff $OUT against the documented shapes"
    status=0
    "${VERIFY[@]}" diff "$OUT" --against documented || status=$?
    record "$status"
else
    echo "== diff skipped: this verify has no diff command yet"
fi

echo "capture written to $OUT"
exit "$worst"

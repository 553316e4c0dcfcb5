#!/usr/bin/env bash
# Set up .venv if needed, then run the main job on the embedded default: the documented
# contract check (the full sandbox pipeline replaces this once capture lands).
source "$(dirname "$0")/_env.sh"
verify check captures/documented

#!/usr/bin/env bash
# Claude Code's hooks, replayed: a recorded session's hook events (examples/claude_code_session.jsonl,
# one JSON document per line, as Claude Code writes them to a hook's stdin) piped one by one into
# `soma hook`, exactly as Claude Code runs it after `soma init`. The session reads the Makefile,
# retries a failing `make release` seven times, then tries `rm -rf build/`.
#
# Prints what each hook answers (Claude Code's JSON: guidance as additionalContext, then a
# refusal of the rm), then `soma status` and `soma replay` of the database.
#
#   ./examples/claude_code_hooks.sh [DB]        # default: a fresh database in a temporary directory
#   SOMA="python -m soma_actor.cli" ./examples/claude_code_hooks.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
db="${1:-$(mktemp -d)/soma.db}"
soma=(${SOMA:-soma})

while IFS= read -r event; do
  name=$(printf '%s' "$event" | sed -E 's/.*"hook_event_name": "([A-Za-z]+)".*/\1/')
  tool=$(printf '%s' "$event" | sed -nE 's/.*"tool_name": "([A-Za-z]+)".*/ \1/p')
  answer=$(printf '%s' "$event" | "${soma[@]}" hook --db "$db")
  printf '%-20s %-6s %s\n' "$name" "$tool" "${answer:-(no answer)}"
done < "$here/claude_code_session.jsonl"

echo
"${soma[@]}" status --db "$db"
echo
"${soma[@]}" replay --db "$db"

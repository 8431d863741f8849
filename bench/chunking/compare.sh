#!/usr/bin/env bash
# Compares Switchyard's chunking with LangChain's RecursiveCharacterTextSplitter on the
# same text file, both sizing chunks by characters with no overlap. Prints one JSON line
# per splitter: {"splitter": ..., "mb_per_s": ..., "chunks": ...}.
#
# Usage: bench/chunking/compare.sh [FILE] [CHUNK_CHARS]
#   FILE         UTF-8 text; default: a generated ~50 MB sample under /var/tmp
#   CHUNK_CHARS  chunk size in characters; default 1000
# Environment:
#   SWITCHYARD_BIN  the switchyard binary (default target/release/switchyard); it must
#                   have `bench chunking --text FILE --chunk-chars N --json`
#   VENV            where LangChain is installed (default /var/tmp/switchyard-langchain-venv)
#   SIDE            rust, python or both (default both)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FILE="${1:-/var/tmp/switchyard-chunking-sample.txt}"
N="${2:-1000}"
VENV="${VENV:-/var/tmp/switchyard-langchain-venv}"
SIDE="${SIDE:-both}"
BIN="${SWITCHYARD_BIN:-target/release/switchyard}"

if [[ ! -f "$FILE" ]]; then
    echo "generating a ~50 MB sample text in $FILE" >&2
    python3 "$here/langchain_split.py" generate "$FILE" 50
fi

if [[ "$SIDE" == rust || "$SIDE" == both ]]; then
    if [[ ! -x "$BIN" ]]; then
        echo "error: $BIN not found; build it with cargo build --release -p switchyard-cli or set SWITCHYARD_BIN" >&2
        exit 1
    fi
    "$BIN" bench chunking --text "$FILE" --chunk-chars "$N" --json
fi

if [[ "$SIDE" == python || "$SIDE" == both ]]; then
    if [[ ! -x "$VENV/bin/python" ]]; then
        echo "installing langchain-text-splitters into $VENV" >&2
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check langchain-text-splitters >&2
    fi
    "$VENV/bin/python" "$here/langchain_split.py" time "$FILE" "$N"
fi

#!/usr/bin/env bash
# man_current.sh — the option part of man/trigd.json.5 is what the option tables generate from
# man/trigd.json.5.in (`make docs` rewrites it).
set -euo pipefail
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR}"
if ! diff -u "$TOP_SRCDIR/man/trigd.json.5" <("$TOP_BUILDDIR/gendoc" --man "$TOP_SRCDIR/man/trigd.json.5.in"); then
    echo "man/trigd.json.5 is out of date: run 'make docs' and commit it" >&2
    exit 1
fi

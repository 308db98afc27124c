#!/usr/bin/env bash
# docs_current.sh — docs/CONFIGURATION.md is what the option tables generate (`make docs` rewrites it).
set -euo pipefail
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR}"
if ! diff -u "$TOP_SRCDIR/docs/CONFIGURATION.md" <("$TOP_BUILDDIR/gendoc"); then
    echo "docs/CONFIGURATION.md is out of date: run 'make docs' and commit it" >&2
    exit 1
fi

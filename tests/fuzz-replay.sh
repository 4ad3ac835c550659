#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Replays the fuzz targets' seed corpora (generated with swu) through fuzz-bundle and fuzz-delta.
. "${SRCDIR:-.}/tests/lib.sh"
: "${FUZZ_BUNDLE:?}" "${FUZZ_DELTA:?}"

bash "$SRCDIR/tests/fuzz/make-corpus.sh" corpus delta-corpus
expect_exit 0 "$FUZZ_BUNDLE" corpus
expect_stdout "fuzz-bundle: replayed [1-9][0-9]* inputs"
expect_exit 0 "$FUZZ_DELTA" delta-corpus
expect_stdout "fuzz-delta: replayed [1-9][0-9]* inputs"
finish

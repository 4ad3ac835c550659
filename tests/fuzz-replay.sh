#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Replays the fuzz target's seed corpus (generated with swu) through fuzz-bundle.
. "${SRCDIR:-.}/tests/lib.sh"
: "${FUZZ_BUNDLE:?}"

bash "$SRCDIR/tests/fuzz/make-corpus.sh" corpus
expect_exit 0 "$FUZZ_BUNDLE" corpus
expect_stdout "replayed [1-9][0-9]* inputs"
finish

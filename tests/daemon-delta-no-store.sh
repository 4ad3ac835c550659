#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A release whose chunk store is missing on the server: the daemon downloads the image whole,
# and the install succeeds.
. "${SRCDIR:-.}/tests/daemon-delta-lib.sh"

delta_setup
start_daemon

no_store() { rm -f "$T"/repo/stable/chunks/*; }
fallback 4 "no store" no_store
finish

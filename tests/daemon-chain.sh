#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The root chain against nginx: the channel keeps roots 1 to 4 (each rotation retiring every key
# before it) and serves a release of root 4 whose metadata carries no chain. A device that trusts
# root 1 fetches roots/2.pb and roots/3.pb, keeps each, and installs the release. A device whose
# server serves a different roots/3.pb than the chain needs stops there: the poll fails naming
# the hop, and only root 2 is kept. A bundle that carries its chain installs from a file.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

device_setup grub
start_bus
start_nginx
make_root_chain 4
links() { find "$DEV/state/roots" -type f 2>/dev/null | wc -l; }

# The channel: every root published by a release that carried them, then one that carries none.
release "$T/v2.swu" 2 --root "$T/chain/4.pb" --root-chain "$T/chain" --key "$T/targets4"
publish "$T/v2.swu"
release "$T/v3.swu" 3 --root "$T/chain/4.pb" --key "$T/targets4"
publish "$T/v3.swu"
expect_eq "roots in the channel" "$(ls "$T/repo/stable/roots" | tr '\n' ' ')" "1.pb 2.pb 3.pb 4.pb "

# Offline: another device that trusts root 1 installs the bundle that carries its chain.
gateway=$DEV
device_setup grub "$T/dev2"
expect_exit 0 swupdated install "$T/v2.swu"
expect_eq "links after the offline install" "$(links)" 3
DEV=$gateway

# A different roots/3.pb: the walk stops at the hop from 2 to 3.
cp "$T/repo/stable/roots/3.pb" "$T/good-3.pb"
"$SWU" create-root-metadata --append-root-key "$T/root3.pub" --append-targets-key "$T/targets3.pub" \
	--previous "$T/chain/2.pb" -o "$T/repo/stable/roots/3.pb"
"$SWU" sign-root-metadata --root-metadata "$T/repo/stable/roots/3.pb" --root-key "$T/root3" >/dev/null
start_daemon
expect_exit 1 ctl check
expect_stderr "root chain: hop from version 2 to 3: root metadata has 0 valid signatures by trusted root keys, 1 required"
check "the Note does not name the hop" note_has "hop from version 2 to 3"
expect_eq "links after the failed walk" "$(links)" 1
expect_eq "available after the failed walk" "$(prop AvailableVersion)" 0

# The right root: the walk goes on from root 2, and the release installs.
cp "$T/good-3.pb" "$T/repo/stable/roots/3.pb"
expect_exit 0 ctl check
expect_stdout "Version 3 is available"
expect_eq "links after the walk" "$(links)" 3
expect_eq "roots/2.pb fetched" "$(grep -c 'GET /stable/roots/2.pb ' "$T/access.log")" 1
expect_eq "roots/3.pb fetched" "$(grep -c 'GET /stable/roots/3.pb ' "$T/access.log")" 2
expect_exit 0 ctl install
expect_stdout "Finished: success"
check "slot B does not hold release 3" slot_holds "$DEV/rootfs-B" "$T/rootfs-3.img"
finish

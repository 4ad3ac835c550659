#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Root chains on the release side: add-root-metadata-to-bundle --root-chain carries the roots a
# device walks (each rotation retiring every key before it), verify-bundle follows them from any
# of them, and publish keeps every root as an immutable roots/<N>.pb that verify-channel follows.
. "${SRCDIR:-.}/tests/lib.sh"

make_root_chain 4
cp "$T/chain/4.pb" "$T/root4.pb"

# A release of root 4 that carries roots 1-3 (4.pb in the directory is the root itself: skipped).
release "$T/v4.swu" 4 --root "$T/root4.pb" --root-chain "$T/chain" --key "$T/targets4"
expect_exit 0 "$SWU" inspect-bundle "$T/v4.swu" --json
expect_eq "chain versions" "$(python3 -c 'import json, sys; print(" ".join(str(r["version"]) for r in json.load(sys.stdin)["root_chain"]))' <"$T/out")" "1 2 3"
expect_exit 0 "$SWU" inspect-bundle "$T/v4.swu"
expect_stdout "Root chain: version 3, 1 signatures valid by its own root keys"
for v in 1 2 3 4; do
	expect_exit 0 "$SWU" verify-bundle --bundle "$T/v4.swu" --trusted-root-metadata "$T/chain/$v.pb" \
		--root-out "$T/out-$v.pb"
done
check "the root after the chain is not root 4" cmp -s "$T/out-1.pb" "$T/root4.pb"
expect_exit 0 "$SWU" verify-bundle --bundle "$T/v4.swu" --self

# Buildroot's post-image script carries the chain too.
post_image=$SRCDIR/contrib/buildroot/board/example/post-image-sign-bundle.sh
# contrib/ is not in the release tarball (make distcheck): there is nothing to run.
if [ -f "$post_image" ]; then
	mkdir -p "$T/images"
	printf 'rootfs\n' >"$T/images/rootfs.ext4"
	expect_exit 0 env SWU="$SWU" SWUPDATED_COMPATIBLE=gw SWUPDATED_BUNDLE_VERSION=4 \
		SWUPDATED_ROOT_METADATA="$T/root4.pb" SWUPDATED_ROOT_CHAIN="$T/chain" \
		SWUPDATED_TARGETS_KEY="$T/targets4" \
		bash "$post_image" "$T/images"
	expect_exit 0 "$SWU" verify-bundle --bundle "$T/images/update.swu" --trusted-root-metadata "$T/chain/1.pb" \
		--compatible gw
fi

# Without the chain a device that trusts root 1 is stranded.
release "$T/bare.swu" 4 --root "$T/root4.pb" --key "$T/targets4"
expect_exit 1 "$SWU" verify-bundle --bundle "$T/bare.swu" --trusted-root-metadata "$T/chain/1.pb"
expect_stderr "root metadata has 0 valid signatures by trusted root keys, 1 required"

# A directory whose roots do not lead to the root: nothing is written.
mkdir -p "$T/gap"
cp "$T/chain/1.pb" "$T/chain/2.pb" "$T/gap/"
cp "$T/bare.swu" "$T/gap.swu"
expect_exit 1 "$SWU" add-root-metadata-to-bundle --append-root-metadata "$T/root4.pb" \
	--bundle "$T/gap.swu" --root-chain "$T/gap"
expect_stderr "do not lead to the root metadata: root chain: hop from version 2 to 4: root metadata has 0 valid signatures by trusted root keys, 1 required"
check "a refused chain changed the bundle" cmp -s "$T/bare.swu" "$T/gap.swu"
# Two different roots of one version.
"$SWU" create-root-metadata --append-root-key "$T/root3.pub" --append-targets-key "$T/targets.pub" \
	--version 3 -o "$T/gap/3b.pb"
cp "$T/chain/3.pb" "$T/gap/3.pb"
expect_exit 1 "$SWU" add-root-metadata-to-bundle --append-root-metadata "$T/root4.pb" \
	--bundle "$T/gap.swu" --root-chain "$T/gap"
expect_stderr "holds two different root metadata of version 3"

# --- publish: every root once, immutable -----------------------------------------------------------
expect_exit 0 "$SWU" publish --bundle "$T/v4.swu" --dir "$T/repo"
for v in 1 2 3 4; do
	check "roots/$v.pb is not root $v" cmp -s "$T/repo/roots/$v.pb" "$T/chain/$v.pb"
done
expect_exit 0 "$SWU" verify-channel --trusted-root-metadata "$T/chain/1.pb" "$T/repo"
expect_stdout "4 roots"
# Published again, and a release that carries no chain: the roots stay.
expect_exit 0 "$SWU" publish --bundle "$T/v4.swu" --dir "$T/repo"
release "$T/v5.swu" 5 --root "$T/root4.pb" --key "$T/targets4"
expect_exit 0 "$SWU" publish --bundle "$T/v5.swu" --dir "$T/repo"
expect_eq "roots after two releases" "$(ls "$T/repo/roots" | tr '\n' ' ')" "1.pb 2.pb 3.pb 4.pb "
# metadata.pb carries no chain now: verify-channel walks roots/ as a device does.
for v in 1 2 3 4; do
	expect_exit 0 "$SWU" verify-channel --trusted-root-metadata "$T/chain/$v.pb" "$T/repo"
done
cp -r "$T/repo" "$T/bad-repo"
"$SWU" create-root-metadata --append-root-key "$T/root3.pub" --append-targets-key "$T/targets3.pub" \
	--previous "$T/chain/2.pb" -o "$T/bad-repo/roots/3.pb"
"$SWU" sign-root-metadata --root-metadata "$T/bad-repo/roots/3.pb" --root-key "$T/root3" >/dev/null
expect_exit 1 "$SWU" verify-channel --trusted-root-metadata "$T/chain/1.pb" "$T/bad-repo"
expect_stderr "root chain: hop from version 2 to 3: root metadata has 0 valid signatures by trusted root keys, 1 required"
# A different root 4 is refused before anything changes.
"$SWU" create-root-metadata --append-root-key "$T/root4.pub" --append-targets-key "$T/targets4.pub" \
	--previous "$T/chain/3.pb" --root-threshold 1 -o "$T/root4b.pb"
"$SWU" sign-root-metadata --root-metadata "$T/root4b.pb" --root-key "$T/root3" >/dev/null
"$SWU" sign-root-metadata --root-metadata "$T/root4b.pb" --root-key "$T/root4" >/dev/null
release "$T/v6.swu" 6 --root "$T/root4b.pb" --key "$T/targets4" --compatible none
check "root 4b is root 4" test "$(sha256sum <"$T/root4b.pb")" != "$(sha256sum <"$T/root4.pb")"
before=$(cd "$T/repo" && find . -type f | sort | xargs sha256sum)
expect_exit 1 "$SWU" publish --bundle "$T/v6.swu" --dir "$T/repo"
expect_stderr "roots/4.pb' holds a different root metadata of version 4: roots are immutable once published"
expect_eq "channel after a refused publish" "$(cd "$T/repo" && find . -type f | sort | xargs sha256sum)" "$before"
# A root that does not follow the channel's last root (roots/4.pb) is refused before anything is
# written: devices that took root 4 would refuse it, and a published root is never replaced.
"$SWU" generate-key "$T/root5" >/dev/null
"$SWU" create-root-metadata --append-root-key "$T/root5.pub" --append-targets-key "$T/targets4.pub" \
	--previous "$T/root4.pb" -o "$T/root5.pb"
"$SWU" sign-root-metadata --root-metadata "$T/root5.pb" --root-key "$T/root5" >/dev/null
release "$T/v7.swu" 7 --root "$T/root5.pb" --key "$T/targets4"
expect_exit 0 "$SWU" verify-bundle --bundle "$T/v7.swu" --self
expect_exit 1 "$SWU" publish --bundle "$T/v7.swu" --dir "$T/repo"
expect_stderr "Root metadata version 5 does not follow $T/repo/roots/4.pb, the channel's last root before it: devices that trust that root would refuse it: root metadata has 0 valid signatures by trusted root keys, 1 required"
expect_eq "channel after a root that does not follow" "$(cd "$T/repo" && find . -type f | sort | xargs sha256sum)" "$before"
# Signed by root 4's key as well, it is a rotation: published.
"$SWU" sign-root-metadata --root-metadata "$T/root5.pb" --root-key "$T/root4" >/dev/null 2>&1
release "$T/v7.swu" 7 --root "$T/root5.pb" --key "$T/targets4"
expect_exit 0 "$SWU" publish --bundle "$T/v7.swu" --dir "$T/repo"
expect_exit 0 "$SWU" verify-channel --trusted-root-metadata "$T/chain/1.pb" "$T/repo"

# A directory of more roots than a bundle may carry: it carries the newest ones that a device just
# before the oldest of them can still follow with the bundle's own root (32 rotations at most).
rm -rf "$T/chain"
make_root_chain 36
release "$T/v36.swu" 7 --root "$T/chain/36.pb" --root-chain "$T/chain" --key "$T/targets36" \
	--compatible none 2>"$T/long.err"
check "the long chain's warning" grep -q "holds 35 roots before version 36; the bundle carries the newest 31" "$T/long.err"
expect_exit 0 "$SWU" inspect-bundle "$T/v36.swu" --json
oldest=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["root_chain"][0]["version"])' <"$T/out")
expect_eq "the oldest root carried" "$oldest" 5
expect_exit 0 "$SWU" verify-bundle --bundle "$T/v36.swu" --trusted-root-metadata "$T/chain/$((oldest - 1)).pb"
finish

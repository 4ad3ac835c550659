#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Threshold ceremonies: a root that needs 2 of 3 root keys, and a release that needs 2 of 3 targets
# keys, signed by each holder on a copy of their own (three key files, three copies), the
# signatures merged (merge-signatures), and verified. inspect-root-metadata and inspect-bundle say
# which required signatures are there and which are missing; copies of different content are
# never merged.
. "${SRCDIR:-.}/tests/lib.sh"

id_of() { "$SWU" generate-key "$1" | sed 's/.*key id \([0-9a-f]*\).*/\1/'; }
a=$(id_of alice)
b=$(id_of bob)
c=$(id_of carol)
t1=$(id_of t1)
t2=$(id_of t2)
t3=$(id_of t3)

# --- the root: 2 of 3, each holder signs a copy ------------------------------------------------
"$SWU" create-root-metadata --append-root-key alice.pub --append-root-key bob.pub \
	--append-root-key carol.pub --root-threshold 2 --append-targets-key t1.pub \
	--append-targets-key t2.pub --append-targets-key t3.pub --targets-threshold 2 -o unsigned.pb
expect_exit 0 "$SWU" inspect-root-metadata unsigned.pb
expect_stdout "its own root keys: 0 of 2 required signed, 2 more needed"
expect_stdout "root key $a: missing"
for h in alice bob carol; do
	cp unsigned.pb "copy-$h.pb" # what travels to each holder
done
"$SWU" sign-root-metadata --root-metadata copy-alice.pb --root-key alice
"$SWU" sign-root-metadata --root-metadata copy-carol.pb --root-key carol

# One signature: inspect says one more is needed, of which keys, and devices refuse it.
expect_exit 0 "$SWU" inspect-root-metadata copy-alice.pb
expect_stdout "its own root keys: 1 of 2 required signed, 1 more needed"
expect_stdout "root key $a: signed"
expect_stdout "root key $b: missing"
expect_stdout "root key $c: missing"
printf 'image\n' >rootfs.img
"$SWU" create-empty-bundle --target-metadata-version 1 one.pb
"$SWU" add-root-metadata-to-bundle --append-root-metadata copy-alice.pb --bundle one.pb
"$SWU" add-file-to-bundle --bundle one.pb --file rootfs.img --new-name rootfs >/dev/null
expect_exit 1 "$SWU" verify-bundle --bundle one.pb --self
expect_stderr "root metadata has 1 valid signatures by its own root keys, 2 required"

# The copies merged: complete.
expect_exit 0 "$SWU" merge-signatures -o root.pb copy-alice.pb copy-carol.pb
expect_stdout "Wrote root.pb: signatures by 2 keys"
expect_exit 0 "$SWU" inspect-root-metadata root.pb
expect_stdout "its own root keys: 2 of 2 required signed"
expect_stdout "root key $a: signed"
expect_stdout "root key $c: signed"
check_not "a complete root says a signature is missing" grep -q "more needed" "$T/out"
# A copy nobody signed, and the same copy twice, add nothing; merging into an input is fine.
cp copy-bob.pb again.pb
expect_exit 0 "$SWU" merge-signatures -o again.pb again.pb copy-alice.pb copy-alice.pb root.pb
expect_exit 0 "$SWU" inspect-root-metadata again.pb
expect_stdout "signatures: 2 (2 valid by its own root keys)"

# A signature that does not verify (a copy damaged on its way) never hides a good one by the same
# key in a later copy: devices check only the first signature claiming a key.
cp unsigned.pb bob-bad.pb
"$SWU" sign-root-metadata --root-metadata bob-bad.pb --root-key bob
python3 -c 'import sys; p = sys.argv[1]; d = bytearray(open(p, "rb").read()); d[-1] ^= 1; open(p, "wb").write(d)' bob-bad.pb
cp unsigned.pb bob-good.pb
"$SWU" sign-root-metadata --root-metadata bob-good.pb --root-key bob
expect_exit 0 "$SWU" merge-signatures -o bob.pb bob-bad.pb bob-good.pb
expect_stderr "'bob-bad.pb' has a signature by key $b that does not verify: not merged"
expect_stdout "Wrote bob.pb: signatures by 1 key"
expect_exit 0 "$SWU" inspect-root-metadata bob.pb
expect_stdout "root key $b: signed"

# Copies of another root are refused, naming the file; nothing is written.
"$SWU" create-root-metadata --append-root-key alice.pub --append-root-key bob.pub \
	--append-root-key carol.pub --root-threshold 2 --append-targets-key t1.pub \
	--version 2 -o other.pb
"$SWU" sign-root-metadata --root-metadata other.pb --root-key bob
expect_exit 1 "$SWU" merge-signatures -o bad.pb copy-alice.pb other.pb
expect_stderr "'other.pb' signs other content than 'copy-alice.pb': merge copies of one metadata only"
check "a refused merge wrote its output" test ! -e bad.pb
cp root.pb root.before
expect_exit 1 "$SWU" merge-signatures -o root.pb root.pb other.pb
check "a refused merge changed its output" cmp -s root.pb root.before
expect_exit 2 "$SWU" merge-signatures -o bad.pb copy-alice.pb missing.pb
check "a failed merge wrote its output" test ! -e bad.pb

# --- a release that needs 2 of 3 targets keys ------------------------------------------------
"$SWU" create-empty-bundle --target-metadata-version 1 rel.pb
"$SWU" add-root-metadata-to-bundle --append-root-metadata root.pb --bundle rel.pb
"$SWU" add-file-to-bundle --bundle rel.pb --file rootfs.img --new-name rootfs >/dev/null
for h in t1 t3; do
	cp rel.pb "rel-$h.pb"
	"$SWU" sign-bundle --bundle "rel-$h.pb" --key "$h"
done
expect_exit 0 "$SWU" inspect-bundle rel-t1.pb
expect_stdout "targets keys of its root: 1 of 2 required signed, 1 more needed"
expect_stdout "targets key $t1: signed"
expect_stdout "targets key $t2: missing"
expect_exit 0 "$SWU" inspect-bundle --json rel-t1.pb
json_check "$T/out" 'd["targets_metadata"]["targets"]["threshold"]["required"] == 2'
json_check "$T/out" 'd["targets_metadata"]["targets"]["threshold"]["signed"] == 1'
json_check "$T/out" '{k["key_id"]: k["status"] for k in d["targets_metadata"]["targets"]["threshold"]["keys"]} == {"'"$t1"'": "signed", "'"$t2"'": "missing", "'"$t3"'": "missing"}'
expect_exit 1 "$SWU" verify-bundle --bundle rel-t1.pb --self
expect_stderr "targets metadata has 1 valid signatures by trusted targets keys, 2 required"
expect_exit 0 "$SWU" merge-signatures -o rel-signed.pb rel-t1.pb rel-t3.pb
expect_exit 0 "$SWU" verify-bundle --bundle rel-signed.pb --self
expect_exit 0 "$SWU" verify-bundle --bundle rel-signed.pb --trusted-root-metadata root.pb
expect_exit 0 "$SWU" inspect-bundle rel-signed.pb
expect_stdout "targets keys of its root: 2 of 2 required signed"
check "the merged bundle lost its payload" cmp -s \
	<(tail -c "$(stat -c %s rootfs.img)" rel-signed.pb) rootfs.img

# A copy of other targets metadata (another payload), or a root metadata with a bundle: refused.
printf 'other image\n' >other.img
cp rel.pb rel-other.pb
"$SWU" add-file-to-bundle --bundle rel-other.pb --file other.img --new-name rootfs --replace >/dev/null
"$SWU" sign-bundle --bundle rel-other.pb --key t2
expect_exit 1 "$SWU" merge-signatures -o bad.pb rel-t1.pb rel-other.pb
expect_stderr "'rel-other.pb' signs other content than 'rel-t1.pb'"
expect_exit 1 "$SWU" merge-signatures -o bad.pb rel-t1.pb root.pb
expect_stderr "'root.pb' is root metadata, 'rel-t1.pb' a bundle"
cp rel-t3.pb rel-root2.pb
"$SWU" add-root-metadata-to-bundle --append-root-metadata other.pb --bundle rel-root2.pb
expect_exit 1 "$SWU" merge-signatures -o bad.pb rel-t1.pb rel-root2.pb
expect_stderr "'rel-root2.pb' carries other root metadata than 'rel-t1.pb'"
check "a refused merge of bundles wrote its output" test ! -e bad.pb

# More signatures than devices accept (32) are not merged.
copies=()
for i in $(seq 33); do
	"$SWU" generate-key "s$i" >/dev/null
	cp unsigned.pb "many-$i.pb"
	"$SWU" sign-root-metadata --root-metadata "many-$i.pb" --root-key "s$i" 2>/dev/null
	copies+=("many-$i.pb")
done
expect_exit 0 "$SWU" merge-signatures -o many.pb "${copies[@]:0:32}"
expect_exit 1 "$SWU" merge-signatures -o too-many.pb "${copies[@]}"
expect_stderr "The merged metadata would carry more than 32 signatures, which devices refuse"
check "a merge over the cap wrote its output" test ! -e too-many.pb

# --- a rotation by threshold: the previous root's 2 of 3 and the new root's own ----------------
d=$("$SWU" generate-key dave | sed 's/.*key id \([0-9a-f]*\).*/\1/')
"$SWU" create-root-metadata --append-root-key bob.pub --append-root-key carol.pub \
	--append-root-key dave.pub --root-threshold 2 --append-targets-key t1.pub \
	--append-targets-key t2.pub --append-targets-key t3.pub --targets-threshold 2 \
	--previous root.pb -o r2.pb
for h in alice bob dave; do
	cp r2.pb "r2-$h.pb"
	"$SWU" sign-root-metadata --root-metadata "r2-$h.pb" --root-key "$h" 2>/dev/null
done
expect_exit 0 "$SWU" merge-signatures -o r2-partial.pb r2-alice.pb r2-dave.pb
expect_exit 1 "$SWU" inspect-root-metadata --previous root.pb r2-partial.pb
expect_stdout "previous root's root keys: 1 of 2 required signed, 1 more needed"
expect_stdout "its own root keys: 1 of 2 required signed, 1 more needed"
expect_stdout "root key $d: signed"
expect_exit 0 "$SWU" merge-signatures -o r2-signed.pb r2-alice.pb r2-dave.pb r2-bob.pb
expect_exit 0 "$SWU" inspect-root-metadata --previous root.pb r2-signed.pb
expect_stdout "Rotation from 'root.pb' (version 1) to version 2: valid"

finish

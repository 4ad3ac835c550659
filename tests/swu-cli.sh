#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# swu end to end: the release flow, exit codes, --root-out, --signer, export-manifest, publish.
. "${SRCDIR:-.}/tests/lib.sh"

printf 'rootfs v1\n' >rootfs.img
head -c 3000 /dev/urandom >app.img
files=(--file rootfs=rootfs.img --file appfs=app.img)
release b1.pb 1 --root root.pb "${files[@]}"

# --- the good path -----------------------------------------------------------
expect_exit 0 "$SWU" verify-bundle --bundle b1.pb --trusted-root-metadata root.pb --compatible acme-gw-v2
expect_stdout "verified: targets version 1"
expect_exit 0 "$SWU" verify-bundle --bundle b1.pb --self
expect_exit 0 "$SWU" inspect-bundle b1.pb
expect_stdout "target rootfs"
expect_exit 0 "$SWU" inspect-bundle b1.pb --json
json_check "$T/out" '[p["name"] for p in d["payloads"]] == ["rootfs", "appfs"] and d["targets_metadata"]["targets"]["compatible"] == ["acme-gw-v2"]' 
expect_exit 0 "$SWU" inspect-root-metadata root.pb
expect_stdout "1 valid"
check_not "a root without expiry shows one" grep -q expires "$T/out"
check_not "a root without a timestamp role shows one" grep -q "timestamp:" "$T/out"
# A root that declares the timestamp role shows its keys, as it does the other roles'.
"$SWU" generate-key stamp >"$T/stamp.out"
expect_exit 0 "$SWU" create-root-metadata --append-root-key "$T/root.pub" \
	--append-targets-key "$T/targets.pub" --append-timestamp-key stamp.pub -o stamped-root.pb
expect_exit 0 "$SWU" inspect-root-metadata stamped-root.pb
expect_stdout "^  timestamp: threshold 1 of 1 keys$"
check "the timestamp key id is not listed under its role" grep -qx "    key $(sed -n 's/.*(key id \([0-9a-f]*\)).*/\1/p' "$T/stamp.out")" "$T/out"
# A root metadata's expiry (devices do not act on it) is shown as a date too.
python3 - "$SRCDIR/tests" root.pb expiring-root.pb <<'EOF_PY'
import sys
sys.path.insert(0, sys.argv[1])
import forge
signed = forge.parse(open(sys.argv[2], "rb").read())
root = forge.parse(signed[0][2])
common = forge.parse(root[0][2]) + [(3, 2, forge.build([(1, 0, 978307200)]))]
root[0] = (1, 2, forge.build(common))
signed[0] = (1, 2, forge.build(root))
open(sys.argv[3], "wb").write(forge.build(signed))
EOF_PY
expect_exit 0 "$SWU" inspect-root-metadata expiring-root.pb
expect_stdout "expires: 2001-01-01 00:00:00 UTC"

# --- exit codes ---------------------------------------------------------------
expect_exit 2 "$SWU" verify-bundle --bundle b1.pb
expect_stderr "exactly one of --trusted-root-metadata ROOT and --self"
expect_exit 2 "$SWU" verify-bundle --bundle b1.pb --self --trusted-root-metadata root.pb
expect_exit 2 "$SWU" verify-bundle --bundle missing.pb --trusted-root-metadata root.pb
expect_stderr "missing.pb"
expect_exit 2 "$SWU" verify-bundle --bundle b1.pb --trusted-root-metadata missing.pb
expect_exit 2 "$SWU" no-such-command
expect_exit 2 "$SWU"
expect_exit 1 "$SWU" verify-bundle --bundle b1.pb --trusted-root-metadata root.pb --compatible acme-gw-v1
expect_stderr "not for this device 'acme-gw-v1'"
echo garbage >garbage.pb
expect_exit 1 "$SWU" verify-bundle --bundle garbage.pb --trusted-root-metadata root.pb
# A file that is no bundle at all is called that, not "malformed field tag at offset 114"; a
# bundle that breaks later keeps its offset.
printf 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n' >passwd
for cmd in "verify-bundle --bundle passwd --self" "inspect-bundle passwd" "publish --bundle passwd --dir repo-passwd"; do
	# shellcheck disable=SC2086 # the words of each command
	expect_exit 1 "$SWU" $cmd
	expect_stderr "Cannot read bundle 'passwd': bundle: not a swupdated/pw_software_update bundle: its first bytes do not parse as an UpdateBundle"
done
cp b1.pb junk-after.pb
printf '\007' >>junk-after.pb
expect_exit 1 "$SWU" verify-bundle --bundle junk-after.pb --self
expect_stderr "bundle: malformed field tag at offset $(stat -c %s junk-after.pb)"
expect_exit 1 "$SWU" verify-bundle --bundle b1.pb --trusted-root-metadata garbage.pb
# Metadata over the cap (1 MiB) is refused as devices refuse it: rejected input, not an I/O error.
head -c $((1024 * 1024 + 1)) /dev/zero >huge.pb
expect_exit 1 "$SWU" verify-bundle --bundle b1.pb --trusted-root-metadata huge.pb
expect_stderr "larger than the metadata size cap"
expect_exit 1 "$SWU" inspect-root-metadata huge.pb
expect_stderr "larger than the metadata size cap"
# A user_manifest that would make the installed manifest exceed the cap: a verdict on the bundle.
release um.pb 1 --compatible none --file user_manifest=huge.pb --file rootfs=rootfs.img
expect_exit 1 "$SWU" verify-bundle --bundle um.pb --trusted-root-metadata root.pb
expect_stderr "user_manifest is 1048577 bytes"
expect_exit 1 "$SWU" verify-bundle --bundle um.pb --self
expect_exit 1 "$SWU" export-manifest --bundle um.pb --trusted-root-metadata root.pb -o um-m.pb
expect_exit 1 "$SWU" publish --bundle um.pb --dir um-repo

# A bundle signed by a stranger's key.
"$SWU" generate-key stranger >/dev/null
release stranger.pb 1 --compatible none --file rootfs=rootfs.img --key stranger
expect_exit 1 "$SWU" verify-bundle --bundle stranger.pb --trusted-root-metadata root.pb
expect_stderr "0 valid signatures by trusted targets keys, 1 required"

# Key ids are shown whole, whatever their length: a cut one would name another key.
long_id=$(printf 'k%.0s' $(seq 100))
long_hex=$(printf '6b%.0s' $(seq 100))
python3 "$SRCDIR/tests/forge.py" edit b1.pb longid.pb --bogus-signature "$long_id"
expect_exit 0 "$SWU" inspect-bundle longid.pb --json
json_check "$T/out" '"'"$long_hex"'" in d["targets_metadata"]["targets"]["signatures"]'
python3 - "$SRCDIR/tests" root.pb longid-root.pb "$long_id" <<'EOF_PY'
import sys
sys.path.insert(0, sys.argv[1])
import forge
fields = forge.parse(open(sys.argv[2], "rb").read())
fields.append((2, 2, forge.build([(1, 2, sys.argv[4].encode()), (2, 2, bytes(64))])))
open(sys.argv[3], "wb").write(forge.build(fields))
EOF_PY
expect_exit 0 "$SWU" inspect-root-metadata longid-root.pb
expect_stdout "by $long_hex\$"
cp b1.pb longid-root-bundle.pb
"$SWU" add-root-metadata-to-bundle --append-root-metadata longid-root.pb --bundle longid-root-bundle.pb
expect_exit 0 "$SWU" inspect-bundle longid-root-bundle.pb --json
json_check "$T/out" '"'"$long_hex"'" in d["root_metadata"]["signatures"]'

# Expired metadata.
release expired.pb 1 --root root.pb --compatible none "${files[@]}" --expires 2001-01-01T00:00:00Z
expect_exit 1 "$SWU" verify-bundle --bundle expired.pb --trusted-root-metadata root.pb
expect_stderr "targets metadata expired at 2001-01-01 00:00:00 UTC (now $(date -u +%Y-)"
# Dates for people in inspect-bundle's text, RFC 3339 in its JSON.
expect_exit 0 "$SWU" inspect-bundle expired.pb
expect_stdout "version 1, expires 2001-01-01 00:00:00 UTC,"
expect_exit 0 "$SWU" inspect-bundle expired.pb --json
json_check "$T/out" 'd["targets_metadata"]["targets"]["expires"] == "2001-01-01T00:00:00Z"'
expect_exit 0 "$SWU" inspect-bundle b1.pb
expect_stdout "version 1, expires never,"
expect_exit 2 "$SWU" create-empty-bundle --expires tomorrow x.pb

# --- anti-rollback with export-manifest -----------------------------------------
release b2.pb 2 --root root.pb --compatible none "${files[@]}"
expect_exit 0 "$SWU" export-manifest --bundle b2.pb --trusted-root-metadata root.pb -o m2.pb
expect_exit 1 "$SWU" verify-bundle --bundle b1.pb --trusted-root-metadata root.pb --manifest m2.pb
expect_stderr "targets metadata version 1 is older than installed version 2"
expect_exit 0 "$SWU" verify-bundle --bundle b2.pb --trusted-root-metadata root.pb --manifest m2.pb

# --- root rotation and --root-out ----------------------------------------------------
"$SWU" generate-key root2 >/dev/null
"$SWU" generate-key targets2 >/dev/null
"$SWU" create-root-metadata --append-root-key root2.pub --append-targets-key targets2.pub --version 2 -o root2.pb
"$SWU" sign-root-metadata --root-metadata root2.pb --root-key root
"$SWU" sign-root-metadata --root-metadata root2.pb --root-key root2
# Rotated root, targets still signed by the old (now revoked) key: rejected, root kept.
cp b2.pb rot.pb
"$SWU" add-root-metadata-to-bundle --append-root-metadata root2.pb --bundle rot.pb
expect_exit 1 "$SWU" verify-bundle --bundle rot.pb --trusted-root-metadata root.pb --root-out new-root.pb
check "--root-out did not keep the rotated root" cmp -s new-root.pb root2.pb
# Signed with the new targets key: accepted.
"$SWU" sign-bundle --bundle rot.pb --key targets2
rm -f new-root.pb
expect_exit 0 "$SWU" verify-bundle --bundle rot.pb --trusted-root-metadata root.pb --root-out new-root.pb
check "--root-out after a good rotation" cmp -s new-root.pb root2.pb
# A rotation the trusted root did not sign never creates the file.
"$SWU" create-root-metadata --append-root-key root2.pub --append-targets-key targets2.pub --version 3 -o rogue.pb
"$SWU" sign-root-metadata --root-metadata rogue.pb --root-key root2
cp b2.pb rogue-bundle.pb
"$SWU" add-root-metadata-to-bundle --append-root-metadata rogue.pb --bundle rogue-bundle.pb
expect_exit 1 "$SWU" verify-bundle --bundle rogue-bundle.pb --trusted-root-metadata root.pb --root-out rogue-out.pb
check "--root-out created a file for a rejected rotation" test ! -e rogue-out.pb
# --previous: the next version; an explicit version that is not greater is refused.
expect_exit 0 "$SWU" create-root-metadata --append-root-key root2.pub --append-targets-key targets2.pub --previous root2.pb -o next.pb
expect_exit 0 "$SWU" inspect-root-metadata next.pb
expect_stdout "version: 3"
expect_exit 0 "$SWU" create-root-metadata --append-root-key root2.pub --append-targets-key targets2.pub --previous root2.pb --version 9 -o next9.pb
expect_exit 0 "$SWU" inspect-root-metadata next9.pb
expect_stdout "version: 9"
expect_exit 2 "$SWU" create-root-metadata --append-root-key root2.pub --append-targets-key targets2.pub --previous root2.pb --version 2 -o same.pb
expect_stderr "not greater than version 2"
check "a root devices refuse was written" test ! -e same.pb
expect_exit 1 "$SWU" create-root-metadata --append-root-key root2.pub --append-targets-key targets2.pub --previous root2.pub -o junk.pb
expect_stderr "is no root metadata"
# Unsound root metadata is refused when created.
expect_exit 1 "$SWU" create-root-metadata --append-root-key root.pub --append-targets-key targets.pub --root-threshold 2 -o bad.pb
check "unsound root metadata was written" test ! -e bad.pb
expect_exit 1 "$SWU" create-root-metadata --append-root-key root.pub --append-targets-key root.pub -o bad.pb
expect_stderr "registered twice"

# --- --signer: openssl as a signing service (DER), and a raw r||s signer ------------------
"$SWU" create-empty-bundle --target-metadata-version 4 signer.pb
"$SWU" add-file-to-bundle --bundle signer.pb --file rootfs.img --new-name rootfs
expect_exit 0 "$SWU" sign-bundle --bundle signer.pb --signer "openssl dgst -sha256 -sign $T/targets" --public-key targets.pub
expect_exit 0 "$SWU" verify-bundle --bundle signer.pb --trusted-root-metadata root.pb
# A signer whose key does not match --public-key is caught before anything is written.
cp signer.pb before.pb
expect_exit 1 "$SWU" sign-bundle --bundle signer.pb --signer "openssl dgst -sha256 -sign $T/stranger" --public-key targets.pub
expect_stderr "not a valid signature"
check "a failed signer changed the bundle" cmp -s signer.pb before.pb
expect_exit 2 "$SWU" sign-bundle --bundle signer.pb --signer "false" --public-key targets.pub
# A signer that prints too much failed: an I/O error (2), not a rejected bundle.
expect_exit 2 "$SWU" sign-bundle --bundle signer.pb --signer "cat >/dev/null; head -c 5000 /dev/zero" --public-key targets.pub
expect_stderr "printed 1024 bytes or more"
check "a signer that printed too much changed the bundle" cmp -s signer.pb before.pb
expect_exit 2 "$SWU" sign-bundle --bundle signer.pb --key targets --signer x --public-key targets.pub

# --- add-file refuses a target name the bundle has, unless --replace -------------------------------
"$SWU" create-empty-bundle replace.pb
echo one >f
"$SWU" add-file-to-bundle --bundle replace.pb --file f --new-name f
cp replace.pb replace-before.pb
echo two >f
expect_exit 2 "$SWU" add-file-to-bundle --bundle replace.pb --file f --new-name f
expect_stderr "target 'f'"
expect_stderr "use --replace"
check "a refused add-file changed the bundle" cmp -s replace.pb replace-before.pb
# The same name reached through the file's stem is refused too.
mkdir -p sub
echo three >sub/f.img
expect_exit 2 "$SWU" add-file-to-bundle --bundle replace.pb --file sub/f.img
expect_stderr "target 'f'"
check "a refused add-file (stem) changed the bundle" cmp -s replace.pb replace-before.pb
expect_exit 0 "$SWU" add-file-to-bundle --bundle replace.pb --file f --new-name f --replace
"$SWU" inspect-bundle replace.pb --json >replace.json
json_check replace.json 'len(d["payloads"]) == 1 and d["targets_metadata"]["targets"]["targets"][0]["length"] == 4'
"$SWU" sign-bundle --bundle replace.pb --key targets
expect_exit 0 "$SWU" verify-bundle --bundle replace.pb --self
expect_exit 2 "$SWU" add-file-to-bundle --bundle replace.pb --file f --new-name ../evil

# Target names are printable ASCII, space included (Pigweed's tools write such names); control
# characters, DEL, bytes beyond ASCII and '.'/'..' parts are refused, the bundle unchanged.
"$SWU" create-empty-bundle spaces.pb
expect_exit 0 "$SWU" add-file-to-bundle --bundle spaces.pb --file f --new-name "a.bin > with space"
"$SWU" sign-bundle --bundle spaces.pb --key targets
expect_exit 0 "$SWU" verify-bundle --bundle spaces.pb --trusted-root-metadata root.pb
expect_exit 0 "$SWU" inspect-bundle spaces.pb --json
json_check "$T/out" '[t["name"] for t in d["targets_metadata"]["targets"]["targets"]] == ["a.bin > with space"]'
cp spaces.pb spaces-before.pb
for bad in $'a\tb' $'a\nb' $'\x7f' $'caf\xc3\xa9' '' ./a a/../b; do
	expect_exit 2 "$SWU" add-file-to-bundle --bundle spaces.pb --file f --new-name "$bad"
	expect_stderr "invalid target name"
done
check "a refused name changed the bundle" cmp -s spaces.pb spaces-before.pb
expect_exit 2 "$SWU" add-file-to-bundle --bundle replace.pb --file missing

# --- without --new-name the target is the file's stem (os.path.splitext of the basename) ------------
"$SWU" create-empty-bundle stem.pb
mkdir -p stems
for f in rootfs.ext4 rootfs.tar.gz .hidden user_manifest app. ..dots .cfg.bak; do
	printf '%s\n' "$f" >"stems/$f"
	expect_exit 0 "$SWU" add-file-to-bundle --bundle stem.pb --file "stems/$f"
done
expect_exit 0 "$SWU" inspect-bundle stem.pb --json
json_check "$T/out" '[t["name"] for t in d["targets_metadata"]["targets"]["targets"]] == ["rootfs", "rootfs.tar", ".hidden", "user_manifest", "app", "..dots", ".cfg"]'
json_check "$T/out" '[p["name"] for p in d["payloads"]] == ["rootfs", "rootfs.tar", ".hidden", "user_manifest", "app", "..dots", ".cfg"]'

# --- publish ---------------------------------------------------------------------------------
expect_exit 0 "$SWU" publish --bundle b2.pb --dir repo/stable
mv repo/stable/* repo/
for h in $(sha256sum rootfs.img app.img | cut -d' ' -f1); do
	check "blob $h missing" test -f "repo/blobs/$h"
	check "blob $h content" test "$(sha256sum "repo/blobs/$h" | cut -d' ' -f1)" = "$h"
done
expect_exit 0 "$SWU" inspect-bundle repo/metadata.pb --json
json_check "$T/out" 'd["payloads"] == [] and len(d["targets_metadata"]["targets"]["targets"]) == 2' 
expect_exit 1 "$SWU" publish --bundle garbage.pb --dir repo2
# Servers make ETags of the mtime in seconds: each publish leaves metadata.pb strictly newer, even
# three within one second (otherwise devices would be told 304 about the newer release).
mkdir -p repo3
for i in 1 2 3; do
	expect_exit 0 "$SWU" publish --bundle b2.pb --dir repo3
	stat -c %Y repo3/metadata.pb >>mtimes
done
expect_eq "metadata.pb mtimes" "$(sort -un mtimes | wc -l)" 3

# --- chunk indexes ------------------------------------------------------------------------------
head -c 300000 /dev/urandom >big.img
"$SWU" create-empty-bundle --target-metadata-version 3 c.pb
expect_exit 0 "$SWU" add-file-to-bundle --bundle c.pb --file big.img --new-name rootfs --chunk-index
expect_stdout "Chunk index 'rootfs.chunks':"
expect_stdout "byte-granular" # not an ext4 image
expect_exit 0 "$SWU" inspect-bundle c.pb
expect_stdout "chunk index: "
expect_exit 0 "$SWU" inspect-bundle c.pb --json
json_check "$T/out" '[p["name"] for p in d["payloads"]] == ["rootfs", "rootfs.chunks"] and d["payloads"][1]["chunk_index"]["chunking"] == "byte" and d["payloads"][1]["chunk_index"]["image_length"] == 300000 and d["payloads"][1]["chunk_index"]["chunks"] >= 2'
# The index is an ordinary signed target: the bundle verifies as before.
expect_exit 0 "$SWU" sign-bundle --bundle c.pb --key "$T/targets"
expect_exit 0 "$SWU" verify-bundle --bundle c.pb --self
# Reserved names, unknown chunking, an image replaced without its index: refused, nothing changed.
cp c.pb c-before.pb
expect_exit 2 "$SWU" add-file-to-bundle --bundle c.pb --file big.img --new-name x.chunks
expect_stderr "reserved for chunk indexes"
expect_exit 2 "$SWU" add-file-to-bundle --bundle c.pb --file big.img --new-name y --chunk-index=fine
expect_stderr "--chunk-index takes auto, block or byte"
expect_exit 2 "$SWU" add-file-to-bundle --bundle c.pb --file app.img --new-name rootfs --replace
expect_stderr "has a chunk index 'rootfs.chunks'"
check "a refused add changed the bundle" cmp -s c.pb c-before.pb
expect_exit 0 "$SWU" add-file-to-bundle --bundle c.pb --file app.img --new-name rootfs --replace --chunk-index=block
expect_exit 0 "$SWU" inspect-bundle c.pb --json
json_check "$T/out" 'd["payloads"][1]["chunk_index"]["chunking"] == "block" and d["payloads"][1]["chunk_index"]["image_length"] == 3000'
# publish writes the chunk store, named by the index.
expect_exit 0 "$SWU" sign-bundle --bundle c.pb --key "$T/targets"
expect_exit 2 "$SWU" publish --bundle c.pb --dir repo4 --compression-level 0
expect_exit 0 "$SWU" publish --bundle c.pb --dir repo4 --compression-level 3
expect_stdout "Chunk store of 'rootfs'"
idx_hex=$("$SWU" inspect-bundle c.pb --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print([t["sha256"] for t in d["targets_metadata"]["targets"]["targets"] if t["name"] == "rootfs.chunks"][0])')
check "no chunk store for $idx_hex" test -s "repo4/chunks/$idx_hex"
check "no chunk store for $idx_hex (magic)" test "$(head -c 8 "repo4/chunks/$idx_hex" 2>/dev/null)" = SWUSTOR1

# squashfs packs small files into shared fragment blocks, which a delta moves whole: an index of
# such an image comes with a warning that names the fix; an image built with -no-fragments does not.
mkdir -p sqtree
for i in 1 2 3 4 5 6; do head -c $((1000 * i)) /dev/urandom >"sqtree/small$i"; done
mksquashfs sqtree frag.sqfs -noappend -quiet -no-progress >/dev/null
mksquashfs sqtree nofrag.sqfs -noappend -quiet -no-progress -no-fragments >/dev/null
expect_exit 0 "$SWU" add-file-to-bundle --bundle c.pb --file frag.sqfs --new-name sq --chunk-index
expect_stderr "warning: 'frag.sqfs' is a squashfs image with 1 fragment block"
expect_stderr "mksquashfs -no-fragments"
expect_exit 0 "$SWU" add-file-to-bundle --bundle c.pb --file nofrag.sqfs --new-name sq2 --chunk-index
check_not "a squashfs image without fragments was warned about" grep warning "$T/err"
# A squashfs 3 superblock has another layout: its field at 16 is not a fragment count.
python3 -c 'import sys; sys.stdout.buffer.write(b"hsqs" + bytes(12) + (7).to_bytes(4, "little") + bytes(8) + (3).to_bytes(2, "little") + bytes(66))' >v3.sqfs
expect_exit 0 "$SWU" add-file-to-bundle --bundle c.pb --file v3.sqfs --new-name sq4 --chunk-index
check_not "a squashfs 3 superblock was read as squashfs 4" grep warning "$T/err"
# The warning is about deltas: no index, no warning.
expect_exit 0 "$SWU" add-file-to-bundle --bundle c.pb --file frag.sqfs --new-name sq3
check_not "an image added without an index was warned about" grep warning "$T/err"

finish

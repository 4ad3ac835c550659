#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Keys in a hardware token: a SoftHSM2 token made here (its own configuration and token directory
# in $T), P-256 keys generated inside it by pkcs11-tool, a root and a bundle signed through
# PKCS#11 URIs (RFC 7512) and verified as a device verifies them. A wrong PIN, a URI naming no
# key, a PIN in the URI and a missing pkcs11 engine are refused with their reasons, and nothing
# is written.
. "${SRCDIR:-.}/tests/lib.sh"

module=/usr/lib/softhsm/libsofthsm2.so
# Under --enable-asan: what libp11's engine leaks is its own (tests/lsan-pkcs11.supp says where).
# Whole stacks, through libcrypto's frames, so that the suppressions see the entry points.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$SRCDIR/tests/lsan-pkcs11.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" >softhsm2.conf
export SOFTHSM2_CONF=$T/softhsm2.conf
printf '1234\n' >pin
printf '9999\n' >wrong-pin
chmod 0600 pin wrong-pin
softhsm2-util --init-token --free --label release --so-pin 5678 --pin 1234 >/dev/null
for k in root targets; do
	pkcs11-tool --module "$module" --token-label release --login --pin 1234 \
		--keypairgen --key-type EC:prime256v1 --label "$k" >/dev/null
	pkcs11-tool --module "$module" --token-label release --read-object --type pubkey \
		--label "$k" -o "$k.der" >/dev/null
	openssl pkey -pubin -inform DER -in "$k.der" -out "$k.pub"
done
uri() { # uri OBJECT [QUERY...]: the key's URI, with the module and any more query attributes
	local q="module-path=$module"
	for a in "${@:2}"; do q="$q&$a"; done
	echo "pkcs11:token=release;object=$1?$q"
}

# --- a root and a bundle signed in the token ----------------------------------------------------
"$SWU" create-root-metadata --append-root-key root.pub --append-targets-key targets.pub -o root.pb
cp root.pb root.orig
expect_exit 0 "$SWU" sign-root-metadata --root-metadata root.pb --root-key "$(uri root "pin-source=file:$T/pin")"
expect_exit 0 "$SWU" inspect-root-metadata root.pb
expect_stdout "signatures: 1 (1 valid by its own root keys)"
printf 'image\n' >rootfs.img
"$SWU" create-empty-bundle --target-metadata-version 1 --compatible acme-gw-v2 b.pb
"$SWU" add-root-metadata-to-bundle --append-root-metadata root.pb --bundle b.pb
"$SWU" add-file-to-bundle --bundle b.pb --file rootfs.img --new-name rootfs >/dev/null
cp b.pb b.orig
expect_exit 0 "$SWU" sign-bundle --bundle b.pb --key "$(uri targets)" --pin-file pin
check "signing in the token warned: $(cat "$T/err")" test ! -s "$T/err"
expect_exit 0 "$SWU" verify-bundle --bundle b.pb --trusted-root-metadata root.pb
expect_exit 0 "$SWU" verify-bundle --bundle b.pb --self
# The private keys never left the token: it holds them as sensitive and never extractable.
check "a key in the token is extractable" sh -c "pkcs11-tool --module $module --token-label release \
	--login --pin 1234 --list-objects --type privkey | grep -q 'never extractable'"

# --- refusals: the reason, and nothing written --------------------------------------------------
cp b.orig b2.pb
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "$(uri targets)" --pin-file wrong-pin
expect_stderr "the token 'release' refused the PIN: cannot use key 'pkcs11:token=release;object=targets'"
check "a wrong PIN changed the bundle" cmp -s b2.pb b.orig
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "$(uri nosuchkey)" --pin-file pin
expect_stderr "no key in a PKCS#11 token matches 'pkcs11:token=release;object=nosuchkey' (token 'release', object 'nosuchkey')"
check "a wrong object changed the bundle" cmp -s b2.pb b.orig
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "pkcs11:token=other;object=targets?module-path=$module" --pin-file pin
expect_stderr "no key in a PKCS#11 token matches 'pkcs11:token=other;object=targets'"
cp root.orig root2.pb
expect_exit 2 "$SWU" sign-root-metadata --root-metadata root2.pb --root-key "$(uri root "pin-source=file:$T/wrong-pin")"
expect_stderr "the token 'release' refused the PIN"
check "a wrong PIN changed the root" cmp -s root2.pb root.orig
# No PIN and no terminal: said, not waited for.
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "$(uri targets)" </dev/null
expect_stderr "the token 'release' needs a PIN for 'pkcs11:token=release;object=targets': give pin-source=file:PATH in the URI or --pin-file"
# A PIN on the command line is refused before anything is tried.
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "$(uri targets pin-value=1234)"
expect_stderr "a PIN is never given on the command line"
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "pkcs11:token=release;object=targets;pin-value=1234"
expect_stderr "a PIN is never given on the command line"
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "$(uri targets pin-source=file:pin)" --pin-file pin
expect_stderr "give the PIN once"
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "$(uri targets)" --passphrase-file pin
expect_stderr "a PKCS#11 token takes --pin-file"
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "$(uri targets 'pin-source=|cat pin')"
expect_stderr "pin-source takes a file, not a command"
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "$(uri targets pin-source=file:no-such-pin)"
expect_stderr "Cannot read PIN file 'no-such-pin'"
expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "$(uri targets pin-sorce=file:pin)"
expect_stderr "unsupported attribute 'pin-sorce=file:pin'"
check "a refused URI changed the bundle" cmp -s b2.pb b.orig
# Without OpenSSL's pkcs11 engine swu still runs; only a URI needs it, and says what to install.
mkdir no-engines
OPENSSL_ENGINES=$T/no-engines expect_exit 2 "$SWU" sign-bundle --bundle b2.pb --key "$(uri targets)" --pin-file pin
expect_stderr "PKCS#11 URIs need OpenSSL's pkcs11 engine (libp11): install libengine-pkcs11-openssl (Debian) or libp11 (Yocto, Buildroot)"
check "a missing engine changed the bundle" cmp -s b2.pb b.orig
"$SWU" generate-key plain >/dev/null
OPENSSL_ENGINES=$T/no-engines expect_exit 0 "$SWU" sign-bundle --bundle b2.pb --key plain

# --- Buildroot's post-image script signs in the token too ---------------------------------------
post_image=$SRCDIR/contrib/buildroot/board/example/post-image-sign-bundle.sh
# contrib/ is not in the release tarball (make distcheck): there is nothing to run.
if [ -f "$post_image" ]; then
	mkdir images
	printf 'rootfs\n' >images/rootfs.ext4
	expect_exit 0 env SWU="$SWU" SWUPDATED_COMPATIBLE=gw SWUPDATED_BUNDLE_VERSION=7 \
		SWUPDATED_ROOT_METADATA=root.pb SWUPDATED_TARGETS_KEY="$(uri targets)" \
		SWUPDATED_PIN_FILE=pin bash "$post_image" images
	expect_stdout "post-image-sign-bundle: wrote images/update.swu (version 7, target rootfs)"
	expect_exit 0 "$SWU" verify-bundle --bundle images/update.swu --trusted-root-metadata root.pb
	cp images/update.swu v7.swu
	expect_exit 2 env SWU="$SWU" SWUPDATED_COMPATIBLE=gw SWUPDATED_BUNDLE_VERSION=8 \
		SWUPDATED_ROOT_METADATA=root.pb SWUPDATED_TARGETS_KEY="$(uri targets)" \
		SWUPDATED_PIN_FILE=wrong-pin bash "$post_image" images
	expect_stderr "the token 'release' refused the PIN"
	check "a refused PIN left a half-made bundle" test ! -e images/update.swu.tmp
	check "a refused PIN changed the last good bundle" cmp -s images/update.swu v7.swu
	# An encrypted key file and its passphrase file, the same way.
	printf 'correct horse\n' >pass
	chmod 0600 pass
	"$SWU" generate-key --passphrase-file pass enc >/dev/null
	"$SWU" create-root-metadata --append-root-key root.pub --append-targets-key enc.pub -o root-enc.pb
	"$SWU" sign-root-metadata --root-metadata root-enc.pb --root-key "$(uri root "pin-source=file:$T/pin")"
	expect_exit 0 env SWU="$SWU" SWUPDATED_COMPATIBLE=gw SWUPDATED_BUNDLE_VERSION=9 \
		SWUPDATED_ROOT_METADATA=root-enc.pb SWUPDATED_TARGETS_KEY=enc SWUPDATED_PASSPHRASE_FILE=pass \
		bash "$post_image" images
	expect_exit 0 "$SWU" verify-bundle --bundle images/update.swu --trusted-root-metadata root-enc.pb
fi

finish

#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Private key files: generate-key writes mode 0600, optionally encrypted (PKCS#8, AES-256) with a
# passphrase read from a file or a file descriptor, never from the command line; every command
# that reads a private key reads an encrypted one with the same options and refuses one that
# group or others may read. A refused key leaves the file it was to sign as it was.
. "${SRCDIR:-.}/tests/lib.sh"

mode() { stat -c %a "$1"; }
printf 'one\n' >one.img
release b.pb 1 --root root.pb --file rootfs=one.img --key none
cp b.pb b.orig
cp root.pb r.orig

# --- generate-key: 0600, also over an existing file another umask made readable --------------
expect_exit 0 "$SWU" generate-key k
expect_eq "mode of a new key" "$(mode k)" 600
expect_eq "mode of its public key" "$(mode k.pub)" 644
printf 'old\n' >k2 && chmod 0644 k2
expect_exit 0 "$SWU" generate-key k2
expect_eq "mode of a key written over a 0644 file" "$(mode k2)" 600

# --- a private key that group or others may read is refused, naming the file and its mode ------
for m in 0644 0640 0604; do
	chmod "$m" "$T/targets"
	expect_exit 2 "$SWU" sign-bundle --bundle b.pb --key "$T/targets"
	expect_stderr "key '$T/targets' is readable by group or others (mode ${m#0}): chmod 600 it"
	check "sign-bundle with a $m key changed the bundle" cmp -s b.pb b.orig
done
chmod 0644 "$T/root"
cp root.pb r.pb
expect_exit 2 "$SWU" sign-root-metadata --root-metadata r.pb --root-key "$T/root"
expect_stderr "key '$T/root' is readable by group or others (mode 644)"
check "sign-root-metadata with a 0644 key changed the root" cmp -s r.pb r.orig
chmod 0400 "$T/root"
expect_exit 0 "$SWU" sign-root-metadata --root-metadata r.pb --root-key "$T/root"
chmod 0600 "$T/targets"
expect_exit 0 "$SWU" sign-bundle --bundle b.pb --key "$T/targets"
expect_exit 0 "$SWU" verify-bundle --bundle b.pb --trusted-root-metadata root.pb
# A public key is public: its mode is nobody's business.
check "a 0644 public key was refused" "$SWU" create-root-metadata --append-root-key k.pub \
	--append-targets-key "$T/targets.pub" -o pub-ok.pb

# --- passphrase-protected keys ------------------------------------------------------------------
printf 'correct horse\n' >pass
printf 'wrong horse\n' >bad-pass
chmod 0600 pass bad-pass
expect_exit 0 "$SWU" generate-key --passphrase-file pass enc
expect_eq "mode of an encrypted key" "$(mode enc)" 600
check "an encrypted key is not encrypted PKCS#8" grep -q "BEGIN ENCRYPTED PRIVATE KEY" enc
check "an encrypted key is not AES-256" sh -c 'openssl asn1parse -in enc | grep -q aes-256-cbc'
check "openssl cannot read the key with its passphrase (first line of the file)" \
	openssl pkey -in enc -passin file:pass -noout
check_not "openssl reads the key with a wrong passphrase" \
	openssl pkey -in enc -passin file:bad-pass -noout
# PBES2 with PBKDF2-HMAC-SHA256 at 600000 rounds (OpenSSL's default is 2048): a copied key file is
# attacked offline.
openssl asn1parse -in enc >"$T/enc.asn1"
check "the key's PBKDF2 is not 600000 rounds of HMAC-SHA256: $(cat "$T/enc.asn1")" \
	grep -q "INTEGER *:0*927C0$" "$T/enc.asn1"
check "the key's PRF is not HMAC-SHA256" grep -q "hmacWithSHA256" "$T/enc.asn1"
check "the key's cipher is not AES-256-CBC" grep -q "aes-256-cbc" "$T/enc.asn1"
expect_exit 0 "$SWU" generate-key --passphrase-fd 3 enc-fd 3<pass
check "a key whose passphrase came from a descriptor does not open with it" \
	openssl pkey -in enc-fd -passin file:pass -noout
# The first line is the passphrase: a pipe (a password manager) that stays open is not waited on.
expect_exit 0 timeout 10 "$SWU" generate-key --passphrase-fd 3 enc-pipe \
	3< <(printf 'correct horse\n'; exec sleep 20 2>/dev/null)
check "a key whose passphrase came through a pipe does not open with it" \
	openssl pkey -in enc-pipe -passin file:pass -noout
# The passphrase never comes from the command line.
expect_exit 2 "$SWU" generate-key --passphrase 'correct horse' nope
check "generate-key wrote a key with a passphrase from the command line" test ! -e nope
printf '' >empty && chmod 0600 empty
expect_exit 2 "$SWU" generate-key --passphrase-file empty nope
expect_stderr "passphrase file 'empty' is empty"
expect_exit 2 "$SWU" generate-key --passphrase-file missing nope
expect_stderr "Cannot read passphrase file 'missing'"
check "generate-key wrote a key without its passphrase" test ! -e nope

# A root and a release whose keys are encrypted.
"$SWU" generate-key --passphrase-file pass eroot >/dev/null
"$SWU" generate-key --passphrase-file pass etargets >/dev/null
"$SWU" create-root-metadata --append-root-key eroot.pub --append-targets-key etargets.pub -o e.pb
cp e.pb e.orig
expect_exit 2 "$SWU" sign-root-metadata --root-metadata e.pb --root-key eroot
expect_stderr "key 'eroot' is encrypted: give its passphrase with --passphrase-file or --passphrase-fd\$"
expect_exit 2 "$SWU" sign-root-metadata --root-metadata e.pb --root-key eroot --passphrase-file bad-pass
expect_stderr "Cannot decrypt key 'eroot': wrong passphrase"
check "a refused passphrase changed the root" cmp -s e.pb e.orig
expect_exit 0 "$SWU" sign-root-metadata --root-metadata e.pb --root-key eroot --passphrase-file pass
release eb.pb 1 --root e.pb --file rootfs=one.img --key none
cp eb.pb eb.orig
expect_exit 2 "$SWU" sign-bundle --bundle eb.pb --key etargets
expect_stderr "key 'etargets' is encrypted: give its passphrase with --passphrase-file or --passphrase-fd"
expect_exit 2 "$SWU" sign-bundle --bundle eb.pb --key etargets --passphrase-fd 3 3<bad-pass
expect_stderr "Cannot decrypt key 'etargets': wrong passphrase"
check "a refused passphrase changed the bundle" cmp -s eb.pb eb.orig
expect_exit 0 "$SWU" sign-bundle --bundle eb.pb --key etargets --passphrase-fd 3 3<pass
expect_exit 0 "$SWU" verify-bundle --bundle eb.pb --trusted-root-metadata e.pb
# An encrypted key that others may read is still refused: the passphrase is one lock, not two.
chmod 0644 etargets
expect_exit 2 "$SWU" sign-bundle --bundle eb.pb --key etargets --passphrase-file pass
expect_stderr "key 'etargets' is readable by group or others (mode 644)"
# The options say what they need: a passphrase with --signer, or two sources, are mistakes.
cp eb.pb eb.signed
expect_exit 2 "$SWU" sign-bundle --bundle eb.pb --key etargets --passphrase-file pass --passphrase-fd 0
expect_stderr "give one of --passphrase-file and --passphrase-fd"
expect_exit 2 "$SWU" sign-bundle --bundle eb.pb --signer cat --public-key etargets.pub --passphrase-file pass
expect_stderr "are for a key file"
expect_exit 2 "$SWU" sign-bundle --bundle eb.pb --key etargets --pin-file pass
expect_stderr "--pin-file is for a key in a token (a pkcs11: URI)"
expect_exit 2 "$SWU" sign-bundle --bundle eb.pb --key etargets --passphrase-fd x
expect_stderr "--passphrase-fd takes a file descriptor number, not 'x'"
expect_exit 2 "$SWU" sign-bundle --bundle eb.pb --key etargets --passphrase-fd 9
expect_stderr "Cannot read the passphrase from file descriptor 9"
check "a refused option changed the bundle" cmp -s eb.pb eb.signed

# --- sign-root-metadata takes a signer command too, like sign-bundle -----------------------------
"$SWU" create-root-metadata --append-root-key k.pub --append-targets-key etargets.pub -o s.pb
cp s.pb s.orig
expect_exit 1 "$SWU" sign-root-metadata --root-metadata s.pb --signer "openssl dgst -sha256 -sign $T/k2" --public-key k.pub
expect_stderr "not a valid signature by the given public key"
check "a wrong signer changed the root" cmp -s s.pb s.orig
expect_exit 0 "$SWU" sign-root-metadata --root-metadata s.pb --signer "openssl dgst -sha256 -sign $T/k" --public-key k.pub
expect_exit 0 "$SWU" inspect-root-metadata s.pb
expect_stdout "signatures: 1 (1 valid by its own root keys)"
expect_exit 2 "$SWU" sign-root-metadata --root-metadata s.pb --root-key k --signer "cat" --public-key k.pub

finish

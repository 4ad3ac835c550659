#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Keys made by openssl(1) in the PEM forms `pw update generate-key` writes (PKCS#8 private,
# SubjectPublicKeyInfo public) work everywhere swu takes a key; openssl verifies swu's signatures.
. "${SRCDIR:-.}/tests/lib.sh"

for k in oroot otargets; do
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $k 2>/dev/null
	openssl pkey -in $k -pubout -out $k.pub
done
expect_exit 0 "$SWU" create-root-metadata --append-root-key oroot.pub --append-targets-key otargets.pub -o root.pb
expect_exit 0 "$SWU" sign-root-metadata --root-metadata root.pb --root-key oroot
printf 'payload' >p.img
"$SWU" create-empty-bundle b.pb
"$SWU" add-root-metadata-to-bundle --append-root-metadata root.pb --bundle b.pb
"$SWU" add-file-to-bundle --bundle b.pb --file p.img --new-name p
expect_exit 0 "$SWU" sign-bundle --bundle b.pb --key otargets
expect_exit 0 "$SWU" verify-bundle --bundle b.pb --trusted-root-metadata root.pb

# swu's own keys are plain PEM that openssl reads.
"$SWU" generate-key mine >/dev/null
check "openssl cannot read swu's private key" openssl pkey -in mine -noout
check "openssl cannot read swu's public key" openssl pkey -pubin -in mine.pub -noout
check "private key is not PKCS#8" grep -q "BEGIN PRIVATE KEY" mine

# A key on another curve is refused with a clear reason, exit 2 (usage), nothing written.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384 2>/dev/null
openssl pkey -in p384 -pubout -out p384.pub
expect_exit 1 "$SWU" create-root-metadata --append-root-key p384.pub --append-targets-key otargets.pub -o x.pb
expect_stderr "not an ECDSA P-256 key"
finish

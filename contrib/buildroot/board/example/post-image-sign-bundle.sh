#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Post-image script example: makes a signed swupdated bundle of rootfs.ext4 with the host
# release tool $(HOST_DIR)/bin/swu (BR2_PACKAGE_HOST_SWUPDATED=y, BR2_TARGET_ROOTFS_EXT2=y,
# BR2_TARGET_ROOTFS_EXT2_4=y), verifies it like a device would and optionally publishes it.
#
#   BR2_ROOTFS_POST_IMAGE_SCRIPT="$(BR2_EXTERNAL_SWUPDATED_PATH)/board/example/post-image-sign-bundle.sh"
#
# Buildroot runs it as: post-image-sign-bundle.sh BINARIES_DIR [BR2_ROOTFS_POST_SCRIPT_ARGS...].
# Every setting is an environment variable or an option; as BR2_ROOTFS_POST_SCRIPT_ARGS goes
# to every post-build and post-image script, prefer the environment (keys never belong in
# the .config anyway):
#
#   SWUPDATED_COMPATIBLE      --compatible STR   required; the device's Compatible= (an option
#                                                may be repeated; the variable takes a
#                                                space-separated list)
#   SWUPDATED_BUNDLE_VERSION  --version N        required; targets metadata version (uint32),
#                                                must grow with every release (anti-rollback)
#   SWUPDATED_ROOT_METADATA   --root-metadata F  required; signed root metadata, the same as
#                                                the factory /usr/lib/swupdated/root.pb (or a
#                                                rotation of it)
#   SWUPDATED_ROOT_CHAIN      --root-chain DIR   optional: a copy of the channel's roots/
#                                                (N.pb per root version): the bundle carries
#                                                the roots older than the root metadata, so
#                                                devices that missed rotations walk them
#   SWUPDATED_TARGETS_KEY     --key KEY          targets private key: a PEM file, or a
#                                                PKCS#11 URI (pkcs11:token=...;object=...,
#                                                RFC 7512: the key stays in the token), or:
#   SWUPDATED_SIGNER          --signer CMD       a command that reads the bytes to sign on
#   SWUPDATED_TARGETS_PUBKEY  --public-key PUB   stdin and prints the signature (an HSM
#                                                client), with the targets public key
#   SWUPDATED_PASSPHRASE_FILE --passphrase-file F  the passphrase of an encrypted key file
#   SWUPDATED_PIN_FILE        --pin-file F       the token's PIN, for a PKCS#11 URI (a file
#                                                only: never a PIN in the environment)
#   SWUPDATED_EXPIRES         --expires T        optional, RFC 3339 or @seconds
#   SWUPDATED_IMAGE           --image FILE       default: BINARIES_DIR/rootfs.ext4
#   SWUPDATED_TARGET          --target NAME      default: rootfs (the [Slot.NAME.A/B] pair)
#   SWUPDATED_BUNDLE          --output FILE      default: BINARIES_DIR/update.swu
#   SWUPDATED_PUBLISH_DIR     --publish DIR      optional: "swu publish" the bundle there
#
# Examples:
#   SWUPDATED_TARGETS_KEY=$HOME/keys/targets
#   SWUPDATED_TARGETS_KEY='pkcs11:token=release;object=targets?module-path=/usr/lib/softhsm/libsofthsm2.so'
#   SWUPDATED_PIN_FILE=/run/user/1000/release-pin   # the host needs OpenSSL's pkcs11 engine
#       (libengine-pkcs11-openssl on Debian)
#   SWUPDATED_SIGNER='openssl dgst -sha256 -sign /run/keys/targets'   # any command that reads
#       the bytes on stdin and prints a DER (or 64-byte raw) ECDSA P-256 signature, e.g. an HSM
#       client; SWUPDATED_TARGETS_PUBKEY=$HOME/keys/targets.pub then checks it before use
set -euo pipefail

die() {
	echo "post-image-sign-bundle: $*" >&2
	exit 1
}

[ $# -ge 1 ] || die "usage: $0 BINARIES_DIR [OPTIONS]"
binaries_dir=$1
shift

read -r -a compatible <<<"${SWUPDATED_COMPATIBLE:-}"
compatible_from_args=()
version=${SWUPDATED_BUNDLE_VERSION:-}
root_metadata=${SWUPDATED_ROOT_METADATA:-}
root_chain=${SWUPDATED_ROOT_CHAIN:-}
key=${SWUPDATED_TARGETS_KEY:-}
signer=${SWUPDATED_SIGNER:-}
public_key=${SWUPDATED_TARGETS_PUBKEY:-}
passphrase_file=${SWUPDATED_PASSPHRASE_FILE:-}
pin_file=${SWUPDATED_PIN_FILE:-}
expires=${SWUPDATED_EXPIRES:-}
image=${SWUPDATED_IMAGE:-$binaries_dir/rootfs.ext4}
target=${SWUPDATED_TARGET:-rootfs}
bundle=${SWUPDATED_BUNDLE:-$binaries_dir/update.swu}
publish_dir=${SWUPDATED_PUBLISH_DIR:-}

while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "option $1 needs a value"
	case $1 in
	--compatible) compatible_from_args+=("$2") ;;
	--version) version=$2 ;;
	--root-metadata) root_metadata=$2 ;;
	--root-chain) root_chain=$2 ;;
	--key) key=$2 ;;
	--signer) signer=$2 ;;
	--public-key) public_key=$2 ;;
	--passphrase-file) passphrase_file=$2 ;;
	--pin-file) pin_file=$2 ;;
	--expires) expires=$2 ;;
	--image) image=$2 ;;
	--target) target=$2 ;;
	--output) bundle=$2 ;;
	--publish) publish_dir=$2 ;;
	*) die "unknown option $1" ;;
	esac
	shift 2
done
if [ ${#compatible_from_args[@]} -gt 0 ]; then
	compatible=("${compatible_from_args[@]}")
fi

swu=${SWU:-${HOST_DIR:?HOST_DIR is not set (run from Buildroot, or set SWU)}/bin/swu}
[ -x "$swu" ] || die "$swu not found: enable BR2_PACKAGE_HOST_SWUPDATED"
[ -f "$image" ] || die "$image not found: enable BR2_TARGET_ROOTFS_EXT2_4 or set SWUPDATED_IMAGE"
[ ${#compatible[@]} -gt 0 ] || die "set SWUPDATED_COMPATIBLE (the device's Compatible=)"
[ -n "$version" ] || die "set SWUPDATED_BUNDLE_VERSION (must grow with every release)"
[ -f "$root_metadata" ] || die "set SWUPDATED_ROOT_METADATA to the signed root metadata"
[ -z "$root_chain" ] || [ -d "$root_chain" ] || die "root chain directory $root_chain not found"

sign=()
if [ -n "$signer" ]; then
	[ -z "$key" ] || die "give a key or a signer command, not both"
	[ -f "$public_key" ] || die "--signer needs SWUPDATED_TARGETS_PUBKEY (the targets public key)"
	sign=(--signer "$signer" --public-key "$public_key")
elif [ -n "$key" ]; then
	case $key in
	pkcs11:*) ;; # swu names what is wrong with a URI, a token or its PIN
	*) [ -f "$key" ] || die "targets key $key not found" ;;
	esac
	sign=(--key "$key")
else
	die "set SWUPDATED_TARGETS_KEY, or SWUPDATED_SIGNER and SWUPDATED_TARGETS_PUBKEY"
fi

if [ -n "$passphrase_file" ]; then
	[ -f "$passphrase_file" ] || die "passphrase file $passphrase_file not found"
	sign+=(--passphrase-file "$passphrase_file")
fi
if [ -n "$pin_file" ]; then
	[ -f "$pin_file" ] || die "PIN file $pin_file not found"
	sign+=(--pin-file "$pin_file")
fi

create=(--target-metadata-version "$version")
for c in "${compatible[@]}"; do
	create+=(--compatible "$c")
done
[ -z "$expires" ] || create+=(--expires "$expires")

# Built under a temporary name: a failed run never leaves a bundle that looks finished.
tmp=$bundle.tmp
rm -f "$tmp"
trap 'rm -f "$tmp"' EXIT

"$swu" create-empty-bundle "${create[@]}" "$tmp"
"$swu" add-root-metadata-to-bundle --append-root-metadata "$root_metadata" --bundle "$tmp" \
	${root_chain:+--root-chain "$root_chain"}
"$swu" add-file-to-bundle --bundle "$tmp" --file "$image" --new-name "$target"
"$swu" sign-bundle --bundle "$tmp" "${sign[@]}"
"$swu" verify-bundle --bundle "$tmp" --trusted-root-metadata "$root_metadata" \
	--compatible "${compatible[0]}"
mv -f "$tmp" "$bundle"
trap - EXIT
echo "post-image-sign-bundle: wrote $bundle (version $version, target $target)"

if [ -n "$publish_dir" ]; then
	"$swu" publish --bundle "$bundle" --dir "$publish_dir"
	echo "post-image-sign-bundle: published to $publish_dir"
fi

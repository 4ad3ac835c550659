SUMMARY = "Example image with swupdated and a signed update bundle"
DESCRIPTION = "A read-only systemd image with swupdated, its product configuration and, \
from do_swu_bundle, a signed bundle of its root filesystem in DEPLOY_DIR_IMAGE."
LICENSE = "MIT"

inherit core-image swu-bundle features_check

REQUIRED_DISTRO_FEATURES = "systemd"

IMAGE_FEATURES += "read-only-rootfs"
IMAGE_FSTYPES = "ext4"
IMAGE_INSTALL += "swupdated swupdated-config"

# The whole root filesystem is the bundle target "rootfs" ([Slot.rootfs.A/B] on the device).
SWU_BUNDLE_TARGETS = "rootfs=${IMAGE_LINK_NAME}.ext4"
# Set in local.conf: SWU_VERSION, SWU_TARGETS_KEY (or SWU_SIGNER and SWU_SIGNER_PUBKEY),
# SWUPDATED_ROOT_METADATA (and SWU_TRUSTED_ROOT_METADATA to verify the bundle against it).

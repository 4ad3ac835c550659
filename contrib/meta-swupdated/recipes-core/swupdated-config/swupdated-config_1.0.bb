SUMMARY = "Example product configuration for swupdated"
DESCRIPTION = "Installs /etc/swupdated.conf and the factory root metadata \
(${SWUPDATED_ROOT_METADATA_PATH}, the trust anchor) into the read-only, dm-verity \
protected root filesystem. Products copy this recipe, or bbappend it and set the \
SWUPDATED_* variables."
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

SRC_URI = "file://swupdated.conf.in"
# scarthgap unpacks file:// sources into WORKDIR, styhead and later into UNPACKDIR.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

# The signed factory root metadata, made offline by the release team (its root key never
# reaches the build machine):
#   swu create-root-metadata --append-root-key root.pub --append-targets-key targets.pub \
#       --version 1 -o root.pb
#   swu sign-root-metadata --root-metadata root.pb --root-key root.key
# Set to that file's absolute path (local.conf, distro or a bbappend).
SWUPDATED_ROOT_METADATA ?= ""
# Where the device reads it: on the dm-verity protected root.
SWUPDATED_ROOT_METADATA_PATH ?= "${nonarch_libdir}/swupdated/root.pb"

# Must be among the bundle's compatible strings (swu-bundle.bbclass: SWU_COMPATIBLE).
SWUPDATED_COMPATIBLE ?= "${MACHINE}"
# The release channel ("swu publish" layout); empty: no polling, updates only over D-Bus.
SWUPDATED_SERVER ?= ""
SWUPDATED_AUTOINSTALL ?= "yes"
SWUPDATED_REBOOTPOLICY ?= "never"
SWUPDATED_REQUIREVERITY ?= "yes"
# grub (needs grub-editenv), uboot (fw_setenv from libubootenv), custom or none.
SWUPDATED_BOOTLOADER ?= "grub"
SWUPDATED_ROOTFS_A ?= "/dev/mmcblk0p2"
SWUPDATED_ROOTFS_B ?= "/dev/mmcblk0p3"

# The configuration names this machine.
PACKAGE_ARCH = "${MACHINE_ARCH}"

# The root metadata is an input of do_install: a new one rebuilds the package.
do_install[file-checksums] += "${@'%s:%s' % (d.getVar('SWUPDATED_ROOT_METADATA'), os.path.exists(d.getVar('SWUPDATED_ROOT_METADATA'))) if d.getVar('SWUPDATED_ROOT_METADATA') else ''}"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    if [ -z "${SWUPDATED_ROOT_METADATA}" ]; then
        bbfatal "Set SWUPDATED_ROOT_METADATA to the signed factory root metadata (swu create-root-metadata, swu sign-root-metadata)"
    fi
    if [ ! -f "${SWUPDATED_ROOT_METADATA}" ]; then
        bbfatal "SWUPDATED_ROOT_METADATA: ${SWUPDATED_ROOT_METADATA} does not exist"
    fi

    if [ -n "${SWUPDATED_SERVER}" ]; then
        server_line="Server=${SWUPDATED_SERVER}"
    else
        server_line="#Server=https://updates.example.com/stable"
    fi
    install -d ${D}${sysconfdir}
    sed -e 's|@COMPATIBLE@|${SWUPDATED_COMPATIBLE}|' \
        -e "s|@SERVER_LINE@|$server_line|" \
        -e 's|@AUTOINSTALL@|${SWUPDATED_AUTOINSTALL}|' \
        -e 's|@REBOOTPOLICY@|${SWUPDATED_REBOOTPOLICY}|' \
        -e 's|@ROOTMETADATA@|${SWUPDATED_ROOT_METADATA_PATH}|' \
        -e 's|@REQUIREVERITY@|${SWUPDATED_REQUIREVERITY}|' \
        -e 's|@BOOTLOADER@|${SWUPDATED_BOOTLOADER}|' \
        -e 's|@ROOTFS_A@|${SWUPDATED_ROOTFS_A}|' \
        -e 's|@ROOTFS_B@|${SWUPDATED_ROOTFS_B}|' \
        ${S}/swupdated.conf.in > ${D}${sysconfdir}/swupdated.conf
    chmod 0644 ${D}${sysconfdir}/swupdated.conf

    install -D -m 0644 ${SWUPDATED_ROOT_METADATA} ${D}${SWUPDATED_ROOT_METADATA_PATH}
}

FILES:${PN} = "${sysconfdir}/swupdated.conf ${SWUPDATED_ROOT_METADATA_PATH}"
CONFFILES:${PN} = "${sysconfdir}/swupdated.conf"

# The bootloader tools the daemon calls.
RDEPENDS:${PN} += " \
    ${@bb.utils.contains('SWUPDATED_BOOTLOADER', 'grub', 'grub-editenv', '', d)} \
    ${@bb.utils.contains('SWUPDATED_BOOTLOADER', 'uboot', 'libubootenv-bin', '', d)} \
"

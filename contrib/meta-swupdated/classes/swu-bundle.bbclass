# swu-bundle.bbclass: a signed swupdated bundle from an image's artifacts.
#
# Inherit it in an image recipe:
#
#   inherit swu-bundle
#   SWU_BUNDLE_TARGETS = "rootfs=${IMAGE_LINK_NAME}.ext4"
#   SWU_VERSION = "42"
#   SWU_TARGETS_KEY = "/secure/keys/targets.key"
#
# do_swu_bundle runs after do_image_complete and writes ${SWU_BUNDLE_NAME} (and the
# ${SWU_BUNDLE_LINK_NAME} symlink) into DEPLOY_DIR_IMAGE, with swu from swupdated-native.
#
# SWU_BUNDLE_TARGETS     name=artifact pairs; the name is the bundle target (the device's
#                        [Slot.<name>.A/B]), the artifact a file in DEPLOY_DIR_IMAGE or an
#                        absolute path. A name may also be user_manifest.
# SWU_COMPATIBLE         compatible strings (space separated); the device's Compatible= must
#                        be among them. Empty: any device.
# SWU_VERSION            targets metadata version (decimal); devices refuse a version lower
#                        than the installed one. Required: raise it with every release.
# SWU_EXPIRES            RFC 3339 time after which devices refuse the bundle; empty: never.
# SWU_TARGETS_KEY        the targets key to sign with: a PEM file, or a PKCS#11 URI
#                        (pkcs11:token=...;object=...?module-path=..., RFC 7512; the key stays in
#                        the token, reached through libp11-native from meta-oe), or
# SWU_SIGNER             a command that reads the bytes to sign on stdin and writes the
#                        signature (HSM, signing server), with
# SWU_SIGNER_PUBKEY      the public key of the signer's key.
# SWU_SIGNER_DEPENDS     recipes (usually -native) whose tools SWU_SIGNER runs.
# SWU_SIGNER_ENV         names of variables exported to the signer (PKCS#11 module, PIN, ...);
#                        add them to BB_ENV_PASSTHROUGH_ADDITIONS. Not part of the task hash.
# SWU_PASSPHRASE_FILE    the passphrase of an encrypted SWU_TARGETS_KEY file (first line).
# SWU_PIN_FILE           the token's PIN for a PKCS#11 URI (first line). Secrets are read from
#                        files only, never from a variable, and neither file is in the task hash.
# SWU_ROOT_METADATA      signed root metadata files to append (a root key rotation), in order.
# SWU_ROOT_CHAIN         a directory of roots (N.pb per version: a copy of the channel's roots/);
#                        the bundle carries those older than the last SWU_ROOT_METADATA, so that
#                        devices that missed rotations walk them one at a time.
# SWU_TRUSTED_ROOT_METADATA  if set, the bundle is verified against this root metadata (what
#                        the devices trust) and SWU_COMPATIBLE's first string after signing.

SWU_BUNDLE_TARGETS ?= "rootfs=${IMAGE_LINK_NAME}.ext4"
SWU_COMPATIBLE ?= "${MACHINE}"
SWU_VERSION ?= ""
SWU_EXPIRES ?= ""
SWU_TARGETS_KEY ?= ""
SWU_SIGNER ?= ""
SWU_SIGNER_PUBKEY ?= ""
SWU_SIGNER_DEPENDS ?= ""
SWU_SIGNER_ENV ?= ""
SWU_PASSPHRASE_FILE ?= ""
SWU_PIN_FILE ?= ""
SWU_ROOT_METADATA ?= ""
SWU_ROOT_CHAIN ?= ""
SWU_TRUSTED_ROOT_METADATA ?= ""

SWU_BUNDLE_NAME ?= "${IMAGE_NAME}.swu"
SWU_BUNDLE_LINK_NAME ?= "${IMAGE_LINK_NAME}.swu"

SWU_WORKDIR = "${WORKDIR}/swu-bundle"
SWU_DEPLOYDIR = "${WORKDIR}/deploy-${PN}-swu-bundle"

def swu_bundle_file_checksums(d):
    files = []
    for var in ('SWU_TARGETS_KEY', 'SWU_SIGNER_PUBKEY', 'SWU_ROOT_METADATA', 'SWU_TRUSTED_ROOT_METADATA'):
        files += (d.getVar(var) or '').split()
    chain = d.getVar('SWU_ROOT_CHAIN') or ''
    if os.path.isdir(chain):
        files += sorted(os.path.join(chain, f) for f in os.listdir(chain) if f.endswith('.pb'))
    return ' '.join('%s:%s' % (f, os.path.exists(f)) for f in files if os.path.isabs(f))

python do_swu_bundle() {
    import os
    import shlex
    import shutil
    import bb.process

    workdir = d.getVar('SWU_WORKDIR')
    deploydir = d.getVar('SWU_DEPLOYDIR')
    deploy_image = d.getVar('DEPLOY_DIR_IMAGE')

    version = (d.getVar('SWU_VERSION') or '').strip()
    if not version.isdigit():
        bb.fatal('SWU_VERSION must be the decimal targets metadata version of this release (got "%s")' % version)
    pairs = (d.getVar('SWU_BUNDLE_TARGETS') or '').split()
    if not pairs:
        bb.fatal('SWU_BUNDLE_TARGETS is empty: name=artifact pairs are needed')
    key = d.getVar('SWU_TARGETS_KEY') or ''
    signer = d.getVar('SWU_SIGNER') or ''
    pubkey = d.getVar('SWU_SIGNER_PUBKEY') or ''
    if bool(key) == bool(signer):
        bb.fatal('Set exactly one of SWU_TARGETS_KEY and SWU_SIGNER')
    if signer and not pubkey:
        bb.fatal('SWU_SIGNER needs SWU_SIGNER_PUBKEY, the public key of its signing key')

    env = dict(os.environ)
    env['PATH'] = d.getVar('PATH')
    if key.startswith('pkcs11:'):
        # swu-native's libcrypto looks for the engine where openssl-native keeps its own
        env.setdefault('OPENSSL_ENGINES', os.path.join(d.getVar('STAGING_LIBDIR_NATIVE'), 'engines-3'))
    secrets = []
    for var, option in (('SWU_PASSPHRASE_FILE', '--passphrase-file'), ('SWU_PIN_FILE', '--pin-file')):
        path = d.getVar(var) or ''
        if path:
            if not os.path.isfile(path):
                bb.fatal('%s: %s does not exist' % (var, path))
            secrets += [option, path]
    for var in (d.getVar('SWU_SIGNER_ENV') or '').split():
        value = d.getVar(var)
        if value is not None:
            env[var] = value

    def swu(*args):
        cmd = ['swu'] + list(args)
        bb.note('Running: %s' % shlex.join(cmd))
        try:
            out, _ = bb.process.run(cmd, cwd=workdir, env=env, stderr=bb.process.subprocess.STDOUT)
        except bb.process.ExecutionError as e:
            bb.fatal('%s failed:\n%s' % (shlex.join(cmd), e.stdout or e))
        if out:
            bb.note(out)

    bundle = os.path.join(workdir, d.getVar('SWU_BUNDLE_NAME'))
    compatible = (d.getVar('SWU_COMPATIBLE') or '').split()

    args = ['create-empty-bundle', '--target-metadata-version', version]
    for c in compatible:
        args += ['--compatible', c]
    expires = (d.getVar('SWU_EXPIRES') or '').strip()
    if expires:
        args += ['--expires', expires]
    swu(*(args + [bundle]))

    roots = (d.getVar('SWU_ROOT_METADATA') or '').split()
    chain = d.getVar('SWU_ROOT_CHAIN') or ''
    if chain and not roots:
        bb.fatal('SWU_ROOT_CHAIN needs SWU_ROOT_METADATA, the root the chain leads to')
    for i, root in enumerate(roots):
        args = ['add-root-metadata-to-bundle', '--append-root-metadata', root, '--bundle', bundle]
        if chain and i == len(roots) - 1:
            args += ['--root-chain', chain]
        swu(*args)

    for pair in pairs:
        name, sep, artifact = pair.partition('=')
        if not sep or not name or not artifact:
            bb.fatal('SWU_BUNDLE_TARGETS: "%s" is not name=artifact' % pair)
        if not os.path.isabs(artifact):
            artifact = os.path.join(deploy_image, artifact)
        if not os.path.exists(artifact):
            bb.fatal('SWU_BUNDLE_TARGETS: %s (target %s) does not exist' % (artifact, name))
        swu('add-file-to-bundle', '--bundle', bundle, '--file', os.path.realpath(artifact), '--new-name', name)

    if key:
        swu('sign-bundle', '--bundle', bundle, '--key', key, *secrets)
    else:
        swu('sign-bundle', '--bundle', bundle, '--signer', signer, '--public-key', pubkey, *secrets)

    trusted = d.getVar('SWU_TRUSTED_ROOT_METADATA') or ''
    if trusted:
        args = ['verify-bundle', '--bundle', bundle, '--trusted-root-metadata', trusted]
        if compatible:
            args += ['--compatible', compatible[0]]
        swu(*args)

    shutil.move(bundle, os.path.join(deploydir, d.getVar('SWU_BUNDLE_NAME')))
    link = d.getVar('SWU_BUNDLE_LINK_NAME')
    if link and link != d.getVar('SWU_BUNDLE_NAME'):
        os.symlink(d.getVar('SWU_BUNDLE_NAME'), os.path.join(deploydir, link))
}
do_swu_bundle[dirs] = "${SWU_WORKDIR} ${SWU_DEPLOYDIR}"
do_swu_bundle[cleandirs] = "${SWU_WORKDIR} ${SWU_DEPLOYDIR}"
do_swu_bundle[depends] += "swupdated-native:do_populate_sysroot \
    ${@'libp11-native:do_populate_sysroot' if (d.getVar('SWU_TARGETS_KEY') or '').startswith('pkcs11:') else ''} \
    ${@' '.join('%s:do_populate_sysroot' % r for r in (d.getVar('SWU_SIGNER_DEPENDS') or '').split())}"
do_swu_bundle[file-checksums] += "${@swu_bundle_file_checksums(d)}"
do_swu_bundle[vardepsexclude] += "DATETIME SWU_PASSPHRASE_FILE SWU_PIN_FILE"

SSTATETASKS += "do_swu_bundle"
do_swu_bundle[sstate-inputdirs] = "${SWU_DEPLOYDIR}"
do_swu_bundle[sstate-outputdirs] = "${DEPLOY_DIR_IMAGE}"
do_swu_bundle[stamp-extra-info] = "${MACHINE_ARCH}"

python do_swu_bundle_setscene() {
    sstate_setscene(d)
}
addtask do_swu_bundle_setscene
addtask do_swu_bundle after do_image_complete before do_build

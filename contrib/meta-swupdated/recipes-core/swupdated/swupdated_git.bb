require swupdated.inc

# Development snapshot: picked only with PREFERRED_VERSION_swupdated = "0.1.0+git"
# (and the same for swupdated-native). For the newest commit set SRCREV = "${AUTOREV}"
# in local.conf (it needs network access while parsing).
DEFAULT_PREFERENCE = "-1"

PV = "0.1.0+git"
# run-ptest: the ptest-runner script; ptest.bbclass installs it when ptest is enabled.
SRC_URI = "git://github.com/swupdated/swupdated.git;protocol=https;branch=main \
           file://run-ptest \
"
SRCREV = "c9b47cf3c348f2a0dd6719acb6c0a57e951e58cf"

S = "${WORKDIR}/git"

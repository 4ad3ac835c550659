require swupdated.inc

# run-ptest: the ptest-runner script; ptest.bbclass installs it when ptest is enabled.
SRC_URI = "https://github.com/swupdated/swupdated/releases/download/v${PV}/swupdated-${PV}.tar.xz \
           file://run-ptest \
"
SRC_URI[sha256sum] = "0030788f56e91fd8156f7e770515a16fb6a6f9fba401e68205b7ac73f535ecbc"

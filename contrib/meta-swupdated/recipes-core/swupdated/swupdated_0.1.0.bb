require swupdated.inc

# run-ptest: the ptest-runner script; ptest.bbclass installs it when ptest is enabled.
SRC_URI = "https://github.com/swupdated/swupdated/releases/download/v${PV}/swupdated-${PV}.tar.xz \
           file://run-ptest \
"
SRC_URI[sha256sum] = "7d55296abed6136f273648ed9c1efbaa3a75711dec4e689d54c036b8fe8d3979"

require swupdated.inc

# run-ptest: the ptest-runner script; ptest.bbclass installs it when ptest is enabled.
SRC_URI = "https://github.com/swupdated/swupdated/releases/download/v${PV}/swupdated-${PV}.tar.xz \
           file://run-ptest \
"
SRC_URI[sha256sum] = "10d8fa3c08ff7f57c4988cc77e60f78a81f8066b392de8b3e31e658cf4236049"

require swupdated.inc

# run-ptest: the ptest-runner script; ptest.bbclass installs it when ptest is enabled.
SRC_URI = "https://github.com/swupdated/swupdated/releases/download/v${PV}/swupdated-${PV}.tar.xz \
           file://run-ptest \
"
SRC_URI[sha256sum] = "8821dda1caa3cfb12459ab99d0d3f2d2ee41ea300064fc3e3febe5dbcedfbdf5"

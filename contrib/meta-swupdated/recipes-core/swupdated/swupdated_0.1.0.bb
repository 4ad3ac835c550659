require swupdated.inc

# run-ptest: the ptest-runner script; ptest.bbclass installs it when ptest is enabled.
SRC_URI = "https://github.com/swupdated/swupdated/releases/download/v${PV}/swupdated-${PV}.tar.xz \
           file://run-ptest \
"
SRC_URI[sha256sum] = "1dfb478eddc8689df64e20b9829a64baf829bc0b6fd422899279a18ae2a4ca4b"

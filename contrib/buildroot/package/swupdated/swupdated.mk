################################################################################
#
# swupdated
#
################################################################################

SWUPDATED_VERSION = 0.1.0
SWUPDATED_SOURCE = swupdated-$(SWUPDATED_VERSION).tar.xz
SWUPDATED_SITE = https://github.com/swupdated/swupdated/releases/download/v$(SWUPDATED_VERSION)
SWUPDATED_LICENSE = LGPL-2.1+
SWUPDATED_LICENSE_FILES = COPYING
SWUPDATED_DEPENDENCIES = \
	host-pkgconf \
	host-protobuf-c \
	openssl \
	protobuf-c \
	json-c \
	zstd \
	systemd \
	libcurl \
	inih

# /etc/swupdated.conf is not installed: the product provides it.
SWUPDATED_CONF_OPTS = \
	--with-systemdsystemunitdir=/usr/lib/systemd/system \
	--with-systemdsystemgeneratordir=/usr/lib/systemd/system-generators \
	--with-sysusersdir=/usr/lib/sysusers.d \
	--with-tmpfilesdir=/usr/lib/tmpfiles.d \
	--with-dbuspolicydir=/usr/share/dbus-1/system.d \
	--with-dbussystemservicedir=/usr/share/dbus-1/system-services \
	PROTOC_C=$(HOST_DIR)/bin/protoc-c

# The group named by the D-Bus policy: created at build time, since
# systemd-sysusers cannot add it to a read-only root filesystem.
define SWUPDATED_USERS
	- - swupdate -1 * - - - swupdated D-Bus callers
endef

# The release tool swu only: no libsystemd, libcurl or inih.
HOST_SWUPDATED_DEPENDENCIES = \
	host-pkgconf \
	host-protobuf-c \
	host-openssl \
	host-json-c \
	host-zstd

# Keys in a hardware token (PKCS#11 URIs): swu loads OpenSSL's pkcs11 engine at run time.
ifeq ($(BR2_PACKAGE_HOST_SWUPDATED_PKCS11),y)
HOST_SWUPDATED_DEPENDENCIES += host-libp11
endif

HOST_SWUPDATED_CONF_OPTS = \
	--disable-daemon \
	PROTOC_C=$(HOST_DIR)/bin/protoc-c

$(eval $(autotools-package))
$(eval $(host-autotools-package))

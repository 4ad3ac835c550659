#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The interface the running daemon introspects is exactly dbus/io.swupdated.Updater1.xml.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

device_setup grub
start_bus
SERVER=http://127.0.0.1:1/unused
start_daemon
busctl "$BUS" introspect --xml-interface io.swupdated.Updater1 /io/swupdated/Updater1 >"$T/live.xml"
check "introspection differs from dbus/io.swupdated.Updater1.xml" \
	python3 - "$SRCDIR/dbus/io.swupdated.Updater1.xml" "$T/live.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET

def canon(e):
    return (e.tag, tuple(sorted(e.attrib.items())), tuple(canon(c) for c in e))

def interface(path):
    for i in ET.parse(path).getroot().iter("interface"):
        if i.get("name") == "io.swupdated.Updater1":
            return canon(i)
    sys.exit("no io.swupdated.Updater1 in " + path)

doc, live = interface(sys.argv[1]), interface(sys.argv[2])
if doc != live:
    print("documented:", doc, "\nlive:", live, file=sys.stderr)
    sys.exit(1)
PY
finish

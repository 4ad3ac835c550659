#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in for systemd-logind on the tests' private bus: org.freedesktop.login1 with
Manager.Reboot(b). Each call is appended to CALLS ("Reboot interactive=<bool>"); with MODE
"deny" it answers as logind does without the privilege (org.freedesktop.DBus.Error.AccessDenied).

fake-logind.py CALLS MODE       (the bus is DBUS_SYSTEM_BUS_ADDRESS)
"""
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

CALLS, MODE = sys.argv[1], sys.argv[2]


class Manager(dbus.service.Object):
    @dbus.service.method("org.freedesktop.login1.Manager", in_signature="b", out_signature="")
    def Reboot(self, interactive):
        open(CALLS, "a").write("Reboot interactive=%s\n" % bool(interactive))
        if MODE == "deny":
            raise dbus.exceptions.DBusException(
                "Interactive authentication required.",
                name="org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")


DBusGMainLoop(set_as_default=True)
bus = dbus.SystemBus()
name = dbus.service.BusName("org.freedesktop.login1", bus)
Manager(bus, "/org/freedesktop/login1")
open(CALLS, "a").close()
GLib.MainLoop().run()

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * io.swupdated.Updater1 on sd-bus: the properties (read from the Updater, PropertiesChanged when
 * it tells of a change), the methods (who may call them, then the updater's operation), the
 * Finished signal, the answers of Check() when its poll ends, and the reboot that RebootPolicy=
 * auto asks systemd-logind for.
 */
#include <systemd/sd-bus.h>

#include "updater.h"

typedef struct UpdaterBus UpdaterBus;

int updater_bus_new(sd_bus *bus, UpdaterBus **ret);
/* Answers calls still waiting (Check) with an error, then frees. */
UpdaterBus *updater_bus_free(UpdaterBus *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(UpdaterBus *, updater_bus_free);
/* What an updater tells its listener: give it (with @b as userdata) to updater_new(). */
extern const UpdaterEvents updater_bus_events;
/* Serves @u on the bus: the object, its interface and the error names. */
int updater_bus_register(UpdaterBus *b, Updater *u);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Slot I/O that takes as long as the medium does (copying an unchanged target of a gigabyte,
 * reading every slot back for Verify()) runs on a thread of its own, so the event loop keeps
 * answering D-Bus and feeding the watchdog. The thread gets what it works on to itself until it
 * is done; an eventfd brings the result back to the loop. Cancel through the libswu context the
 * work uses (swu_context_cancel()), then free: freeing waits for the thread.
 */
#include <systemd/sd-event.h>

typedef struct Worker Worker;
typedef int (*WorkFunc)(void *userdata);
/* On the event loop, once the work is done; it may free the Worker. */
typedef void (*WorkDone)(void *userdata, int r);

int worker_new(sd_event *event, WorkFunc work, WorkDone done, void *userdata, Worker **ret);
Worker *worker_free(Worker *w);

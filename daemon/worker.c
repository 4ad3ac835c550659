/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "macro.h"
#include "worker.h"

struct Worker {
	pthread_t thread;
	bool joined;
	int event_fd;
	sd_event_source *source;
	WorkFunc work;
	WorkDone done;
	void *userdata;
	int result;
};

static void *run(void *userdata)
{
	Worker *w = userdata;
	const uint64_t one = 1;

	w->result = w->work(w->userdata);
	(void)!write(w->event_fd, &one, sizeof(one));
	return NULL;
}

static void join(Worker *w)
{
	if (!w->joined)
		pthread_join(w->thread, NULL);
	w->joined = true;
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Worker *w = userdata;

	w->source = sd_event_source_disable_unref(w->source);
	join(w);
	w->done(w->userdata, w->result); /* may free @w: nothing after this */
	return 0;
}

int worker_new(sd_event *event, WorkFunc work, WorkDone done, void *userdata, Worker **ret)
{
	Worker *w;
	int r;

	assert_return(event && work && done && ret, -EINVAL);
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	*w = (Worker){ .joined = true, .work = work, .done = done, .userdata = userdata };
	w->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->event_fd < 0) {
		r = -errno;
		free(w);
		return r;
	}
	r = sd_event_add_io(event, &w->source, w->event_fd, EPOLLIN, on_done, w);
	if (r >= 0) {
		r = -pthread_create(&w->thread, NULL, run, w);
		w->joined = r < 0;
	}
	if (r < 0) {
		worker_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

Worker *worker_free(Worker *w)
{
	if (!w)
		return NULL;
	join(w);
	sd_event_source_disable_unref(w->source);
	safe_close(w->event_fd);
	free(w);
	return NULL;
}

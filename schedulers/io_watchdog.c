/* The io loop's watchdog: a thread that samples which callback the loop is
 * running (published by exec_io_wd_enter_/leave_ in io_loop_internal.h)
 * and reports once when the same callback has been running for longer than
 * the threshold. Sampling, not timestamping: the loop pays two relaxed
 * stores per callback and never reads the clock for the watchdog. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "exec/debug.h"
#include "schedulers/io_loop_internal.h"

struct io_watchdog {
	exec_io_loop *loop;
	int64_t threshold;
	exec_io_watchdog_fn fn;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

const char *exec_io_kind_name_(unsigned kind)
{
	static const char *const names[] = {
		[IOQ_READ] = "read",       [IOQ_WRITE] = "write",
		[IOQ_READV] = "readv",     [IOQ_WRITEV] = "writev",
		[IOQ_RECV] = "recv",       [IOQ_SEND] = "send",
		[IOQ_RECVMSG] = "recvmsg", [IOQ_SENDMSG] = "sendmsg",
		[IOQ_ACCEPT] = "accept",   [IOQ_CONNECT] = "connect",
		[IOQ_CLOSE] = "close",     [IOQ_SHUTDOWN] = "shutdown",
		[IOQ_OPENAT] = "openat",   [IOQ_FSYNC] = "fsync",
		[IOQ_STATX] = "statx",     [IOQ_POLL] = "poll",
		[IOQ_RECV_PROVIDED] = "recv_provided",
	};
	return kind < sizeof names / sizeof names[0] && names[kind] ? names[kind] : "io";
}

static void default_report(void *ctx, const exec_io_watchdog_report *r)
{
	(void)ctx;
	char what[160];
	if (r->fn) {
		Dl_info info;
		const char *name = dladdr(r->fn, &info) && info.dli_sname ? info.dli_sname : "?";
		snprintf(what, sizeof what, "task fn=%p (%s)", r->fn, name);
	} else {
		snprintf(what, sizeof what, "completion of %s fd=%d (its receiver's code)",
			 r->op ? r->op : "io", r->fd);
	}
	fprintf(stderr,
		"cexec watchdog: io loop %p (%s) has not come back for %lld ms: running %s\n",
		(void *)r->loop, exec_io_loop_backend_name(r->loop),
		(long long)(r->stalled_ns / EXEC_NS_PER_MS), what);
	fflush(stderr);
	if (exec_debug_enabled())
		exec_debug_dump(2);
}

static void *watch(void *arg)
{
	struct io_watchdog *wd = arg;
	exec_io_loop *loop = wd->loop;
	int64_t period = wd->threshold / 4;
	if (period < EXEC_NS_PER_MS)
		period = EXEC_NS_PER_MS;
	if (period > 100 * EXEC_NS_PER_MS)
		period = 100 * EXEC_NS_PER_MS;
	AO_t seen = 0, reported = 0;
	bool have_seen = false, have_reported = false;
	exec_time first = 0;
	pthread_mutex_lock(&wd->mu);
	while (!wd->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = ts.tv_nsec + period;
		ts.tv_sec += ns / EXEC_NS_PER_S;
		ts.tv_nsec = ns % EXEC_NS_PER_S;
		pthread_cond_timedwait(&wd->cv, &wd->mu, &ts);
		if (wd->stop)
			break;
		/* A consistent sample: the sequence did not move while reading. */
		AO_t seq = AO_load_acquire(&loop->wd_seq);
		AO_t kind = AO_load_acquire(&loop->wd_kind);
		AO_t fn = AO_load(&loop->wd_fn);
		AO_t fd = AO_load(&loop->wd_fd);
		if (AO_load_acquire(&loop->wd_seq) != seq || kind == WD_IDLE) {
			have_seen = false;
			continue;
		}
		exec_time now = exec_clock_now();
		if (!have_seen || seen != seq) {
			have_seen = true;
			seen = seq;
			first = now;
			continue;
		}
		if (now - first + period < wd->threshold || (have_reported && reported == seq))
			continue;
		have_reported = true;
		reported = seq;
		exec_io_watchdog_report r = {
			.loop = loop,
			.stalled_ns = now - first + period,
			.kind = kind == WD_TASK ? "task" : "io",
			.fn = kind == WD_TASK ? (void *)(uintptr_t)fn : NULL,
			.op = kind == WD_IO ? exec_io_kind_name_((unsigned)fn) : NULL,
			.fd = kind == WD_IO ? (int)(intptr_t)fd : -1,
		};
		/* Report without the lock: stop must not wait for the callback. */
		pthread_mutex_unlock(&wd->mu);
		wd->fn(wd->ctx, &r);
		pthread_mutex_lock(&wd->mu);
	}
	pthread_mutex_unlock(&wd->mu);
	return NULL;
}

int exec_io_watchdog_start_(exec_io_loop *loop, const exec_io_loop_options *o)
{
	struct io_watchdog *wd = calloc(1, sizeof *wd);
	if (!wd)
		return -ENOMEM;
	wd->loop = loop;
	wd->threshold = o->watchdog_ns;
	wd->fn = o->watchdog_fn ? o->watchdog_fn : default_report;
	wd->ctx = o->watchdog_ctx;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wd->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&wd->mu, NULL);
	/* Published before the thread starts and before the loop runs. */
	loop->wd = wd;
	int rc = pthread_create(&wd->thread, NULL, watch, wd);
	if (rc) {
		loop->wd = NULL;
		pthread_cond_destroy(&wd->cv);
		pthread_mutex_destroy(&wd->mu);
		free(wd);
		return -rc;
	}
	return 0;
}

void exec_io_watchdog_stop_(exec_io_loop *loop)
{
	struct io_watchdog *wd = loop->wd;
	if (!wd)
		return;
	pthread_mutex_lock(&wd->mu);
	wd->stop = true;
	pthread_cond_signal(&wd->cv);
	pthread_mutex_unlock(&wd->mu);
	pthread_join(wd->thread, NULL);
	loop->wd = NULL;
	pthread_cond_destroy(&wd->cv);
	pthread_mutex_destroy(&wd->mu);
	free(wd);
}

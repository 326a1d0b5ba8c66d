/* The I/O loop: task queues, timers, wake-ups and the io_uring backend.
 * The epoll backend lives in io_epoll.c; the loop core below calls it when
 * loop->backend is EXEC_IO_BACKEND_EPOLL. */
#include "schedulers/io_loop_internal.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "exec/call_guard.h"
#include "exec/cpu_relax.h"
#include "exec/error.h"

/* liburing 2.3 predates it (kernel 6.12). */
#define EXEC_IORING_FEAT_MIN_TIMEOUT (1U << 15)

/* io_uring_getevents_arg as of kernel 6.12, whose former pad field holds
 * the minimum wait: liburing before 2.8 calls that field pad, 2.8 and
 * later min_wait_usec, so neither name compiles everywhere. */
struct exec_getevents_arg {
	uint64_t sigmask;
	uint32_t sigmask_sz;
	uint32_t min_wait_usec;
	uint64_t ts;
};
_Static_assert(sizeof(struct exec_getevents_arg) == sizeof(struct io_uring_getevents_arg),
	       "io_uring_getevents_arg changed size");

#define STATUS(t) ((t)->sched_private[0].u)

/* The loop running on this thread (innermost), for "am I on the loop". */
static _Thread_local exec_io_loop *current
	__attribute__((tls_model("initial-exec")));

bool exec_io_loop_on_thread(const exec_io_loop *loop)
{
	return current == loop;
}

/* ---- task queues ---- */

static void push_local(exec_io_loop *loop, exec_task *t, int status)
{
	STATUS(t) = (uintptr_t)(intptr_t)status;
	t->next = NULL;
	if (loop->tail)
		loop->tail->next = t;
	else
		loop->head = t;
	loop->tail = t;
}

/* Wakes the loop if it is (about to be) blocked. The CAS lets exactly one
 * of many concurrent submitters pay for the write per sleep. */
static void wake(exec_io_loop *loop)
{
	if (AO_load_full(&loop->sleeping) &&
	    AO_compare_and_swap_full(&loop->sleeping, 1, 0)) {
		uint64_t one = 1;
		ssize_t n = write(loop->wake_fd, &one, sizeof one);
		(void)n;
	}
}

static void push_remote(exec_io_loop *loop, exec_task *t)
{
	STATUS(t) = 0;
	AO_t old;
	do {
		old = AO_load(&loop->remote);
		t->next = (exec_task *)old;
	} while (!AO_compare_and_swap_full(&loop->remote, old, (AO_t)t));
	wake(loop);
}

/* Moves the remote LIFO to the local FIFO, restoring submission order. */
static bool drain_remote(exec_io_loop *loop)
{
	if (!AO_load(&loop->remote))
		return false;
	AO_t old;
	do {
		old = AO_load_acquire(&loop->remote);
	} while (!AO_compare_and_swap_full(&loop->remote, old, 0));
	exec_task *rev = NULL, *t = (exec_task *)old;
	while (t) {
		exec_task *n = t->next;
		t->next = rev;
		rev = t;
		t = n;
	}
	while (rev) {
		exec_task *n = rev->next;
		push_local(loop, rev, (int)(intptr_t)STATUS(rev));
		rev = n;
	}
	return true;
}

/* Another thread's submit may still be waking the loop (reading it,
 * writing its eventfd) after the loop has run the task it pushed and the
 * task's owner has gone on to destroy the loop: destroy waits for such
 * calls (exec/call_guard.h). */

static int io_submit(exec_scheduler *s, exec_task *t)
{
	exec_io_loop *loop = EXEC_CONTAINER_OF(s, exec_io_loop, sched);
	if (current == loop) {
		push_local(loop, t, 0);
	} else {
		void *guard = exec_call_guard_enter(loop);
		push_remote(loop, t);
		exec_call_guard_leave(guard);
	}
	return 0;
}

static int io_submit_at(exec_scheduler *s, exec_task *t, exec_time deadline)
{
	exec_io_loop *loop = EXEC_CONTAINER_OF(s, exec_io_loop, sched);
	bool foreign = current != loop;
	void *guard = foreign ? exec_call_guard_enter(loop) : NULL;
	t->deadline = deadline;
	pthread_mutex_lock(&loop->timer_mu);
	exec_task *top = exec_timer_heap_top(&loop->timers);
	exec_timer_heap_push(&loop->timers, t);
	AO_fetch_and_add1(&loop->ntimers);
	bool earlier = !top || deadline < top->deadline;
	pthread_mutex_unlock(&loop->timer_mu);
	/* A sleeping loop computed its timeout from the old earliest timer. */
	if (foreign) {
		if (earlier)
			wake(loop);
		exec_call_guard_leave(guard);
	}
	return 0;
}

static void io_cancel(exec_scheduler *s, exec_task *t)
{
	exec_io_loop *loop = EXEC_CONTAINER_OF(s, exec_io_loop, sched);
	bool foreign = current != loop;
	void *guard = foreign ? exec_call_guard_enter(loop) : NULL;
	pthread_mutex_lock(&loop->timer_mu);
	bool removed = exec_timer_heap_remove(&loop->timers, t);
	if (removed) {
		/* Stays counted in ntimers until the loop runs it. */
		t->next = loop->cancelled;
		loop->cancelled = t;
	}
	pthread_mutex_unlock(&loop->timer_mu);
	if (foreign) {
		if (removed)
			wake(loop);
		exec_call_guard_leave(guard);
	}
}

static exec_time io_now(exec_scheduler *s)
{
	(void)s;
	return exec_clock_now();
}

static const exec_scheduler_ops io_loop_ops = {
	.name = "io_loop",
	.flags = EXEC_SCHED_TIMED,
	.submit = io_submit,
	.submit_at = io_submit_at,
	.cancel = io_cancel,
	.now = io_now,
};

exec_scheduler *exec_io_loop_scheduler(exec_io_loop *loop)
{
	return &loop->sched;
}

exec_io_loop *exec_io_loop_from_scheduler(exec_scheduler *s)
{
	if (!s || s->ops != &io_loop_ops)
		return NULL;
	return EXEC_CONTAINER_OF(s, exec_io_loop, sched);
}

/* Moves cancelled and due timers to the ready FIFO (cancelled first, with
 * EXEC_STOPPED). Returns the next deadline, or -1. */
static exec_time promote_timers(exec_io_loop *loop)
{
	if (!AO_load_acquire(&loop->ntimers))
		return -1;
	pthread_mutex_lock(&loop->timer_mu);
	size_t moved = 0;
	exec_task *c = loop->cancelled, *rev = NULL;
	loop->cancelled = NULL;
	while (c) { /* restore cancel order */
		exec_task *n = c->next;
		c->next = rev;
		rev = c;
		c = n;
	}
	while (rev) {
		exec_task *n = rev->next;
		push_local(loop, rev, EXEC_STOPPED);
		moved++;
		rev = n;
	}
	exec_task *t = exec_timer_heap_top(&loop->timers);
	if (t) {
		exec_time now = exec_clock_now();
		while ((t = exec_timer_heap_top(&loop->timers)) && t->deadline <= now) {
			exec_timer_heap_pop(&loop->timers);
			push_local(loop, t, 0);
			moved++;
		}
	}
	exec_time next = t ? t->deadline : -1;
	if (moved)
		AO_fetch_and_add(&loop->ntimers, (AO_t)-(AO_t)moved);
	pthread_mutex_unlock(&loop->timer_mu);
	return next;
}

/* Runs the tasks that are ready now (not the ones they queue: those wait
 * for the next iteration, so I/O completions are not starved). */
static int run_ready(exec_io_loop *loop)
{
	exec_task *t = loop->head, *last = loop->tail;
	if (!t)
		return 0;
	int ran = 0;
	for (;;) {
		exec_task *n = t->next;
		bool end = t == last;
		/* n may be a task that an earlier task of this batch queued
		 * (after last): it stays queued for the next iteration. */
		loop->head = n;
		if (!n)
			loop->tail = NULL; /* tasks queued from now on start a new list */
		int status = (int)(intptr_t)STATUS(t);
		exec_io_wd_enter_(loop, WD_TASK, (AO_t)(uintptr_t)t->fn, -1);
		t->fn(t, status);
		exec_io_wd_leave_(loop);
		ran++;
		if (end)
			break;
		t = n;
	}
	return ran;
}

/* ---- io_uring backend ---- */

static struct io_uring_sqe *get_sqe(exec_io_loop *loop);

static void arm_wake(exec_io_loop *loop)
{
	struct io_uring_sqe *sqe = get_sqe(loop);
	io_uring_prep_read(sqe, loop->wake_fd, &loop->wake_buf,
			   sizeof loop->wake_buf, 0);
	io_uring_sqe_set_data64(sqe, UD_WAKE);
}

/* Delivers the completions in the CQ ring. The head is read afresh for
 * each CQE (not cached as io_uring_for_each_cqe does) and advanced before
 * the callback runs: a callback may submit, find the SQ full and reap
 * again (get_sqe), and the outer loop must not deliver what the inner one
 * already did. CQEs the kernel kept aside while the CQ ring was full
 * (IORING_SQ_CQ_OVERFLOW) are flushed into the ring and delivered too. */
static int reap(exec_io_loop *loop)
{
	int ran = 0, flushes = 0;
	unsigned ops = 0;    /* operations that completed: see reaped_ops */
	uint64_t last = 0;
	for (;;) {
		struct io_uring_cqe *cqe;
		int err = __io_uring_peek_cqe(&loop->ring, &cqe, NULL);
		if (!cqe) {
			if (err)
				continue; /* liburing's own timeout, consumed */
			if (io_uring_cq_has_overflow(&loop->ring) && flushes++ < 8) {
				io_uring_get_events(&loop->ring);
				continue;
			}
			break;
		}
		uint64_t ud = cqe->user_data;
		int32_t res = cqe->res;
		uint32_t fl = cqe->flags;
		io_uring_cq_advance(&loop->ring, 1);
		switch (ud & UD_MASK) {
		case UD_OP: {
			io_req *q = (io_req *)(uintptr_t)ud;
			if (!q)
				break;
			if (!(fl & IORING_CQE_F_MORE))
				loop->inflight--;
			/* A multishot's pieces come one after another. */
			ops += ud != last;
			last = ud;
			exec_io_wd_enter_(loop, WD_IO, q->kind, q->fd);
			q->done(q, res, fl);
			exec_io_wd_leave_(loop);
			ran++;
			break;
		}
		case UD_CANCEL: {
			io_req *q = (io_req *)(uintptr_t)(ud & ~(uint64_t)UD_MASK);
			loop->inflight--;
			exec_io_wd_enter_(loop, WD_IO, q->kind, q->fd);
			q->cancel_done(q, res, fl);
			exec_io_wd_leave_(loop);
			ran++;
			break;
		}
		case UD_WAKE:
			arm_wake(loop);
			break;
		default: /* LIBURING_UDATA_TIMEOUT and other tags: nothing */
			break;
		}
	}
	loop->reaped_ops = ops;
	return ran;
}

/* Submits what is queued; -EBUSY / -EAGAIN (the CQ is backed up or the
 * kernel is short of memory) are handled by reaping first. */
static int submit_pending(exec_io_loop *loop, bool get_events)
{
	for (;;) {
		int rc = get_events && loop->features.defer_taskrun
				 ? io_uring_submit_and_get_events(&loop->ring)
				 : io_uring_submit(&loop->ring);
		if (rc >= 0 || rc == -EINTR)
			return 0;
		if (rc != -EBUSY && rc != -EAGAIN)
			return rc;
		io_uring_get_events(&loop->ring);
		if (!reap(loop))
			return 0; /* retried on the next iteration */
	}
}

static struct io_uring_sqe *get_sqe(exec_io_loop *loop)
{
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(&loop->ring))) {
		/* SQ full: hand the batch to the kernel and retry. */
		int rc = io_uring_submit(&loop->ring);
		if (rc == -EBUSY || rc == -EAGAIN) {
			io_uring_get_events(&loop->ring);
			reap(loop);
		}
	}
	return sqe;
}

static void uring_prep(exec_io_loop *loop, struct io_uring_sqe *sqe, io_req *q)
{
	switch ((io_kind)q->kind) {
	case IOQ_READ:
		io_uring_prep_read(sqe, q->fd, q->addr, q->len, q->off);
		break;
	case IOQ_WRITE:
		io_uring_prep_write(sqe, q->fd, q->addr, q->len, q->off);
		break;
	case IOQ_READV:
		io_uring_prep_readv(sqe, q->fd, q->addr, q->len, q->off);
		break;
	case IOQ_WRITEV:
		io_uring_prep_writev(sqe, q->fd, q->addr, q->len, q->off);
		break;
	case IOQ_RECV:
		io_uring_prep_recv(sqe, q->fd, q->addr, q->len, (int)q->flags);
		break;
	case IOQ_SEND:
		io_uring_prep_send(sqe, q->fd, q->addr, q->len, (int)q->flags);
		break;
	case IOQ_RECVMSG:
		io_uring_prep_recvmsg(sqe, q->fd, q->addr, q->flags);
		break;
	case IOQ_SENDMSG:
		io_uring_prep_sendmsg(sqe, q->fd, q->addr, q->flags);
		break;
	case IOQ_ACCEPT:
		if (q->multishot)
			io_uring_prep_multishot_accept(sqe, q->fd, q->addr, q->addr2,
						       (int)q->flags);
		else
			io_uring_prep_accept(sqe, q->fd, q->addr, q->addr2,
					     (int)q->flags);
		break;
	case IOQ_CONNECT:
		io_uring_prep_connect(sqe, q->fd, q->addr, q->len);
		break;
	case IOQ_CLOSE:
		io_uring_prep_close(sqe, q->fd);
		break;
	case IOQ_SHUTDOWN:
		io_uring_prep_shutdown(sqe, q->fd, (int)q->mode);
		break;
	case IOQ_OPENAT:
		io_uring_prep_openat(sqe, q->fd, q->addr, (int)q->flags, q->mode);
		break;
	case IOQ_FSYNC:
		io_uring_prep_fsync(sqe, q->fd, q->flags);
		break;
	case IOQ_STATX:
		io_uring_prep_statx(sqe, q->fd, q->addr, (int)q->flags, q->mode,
				    q->addr2);
		break;
	case IOQ_POLL:
		io_uring_prep_poll_add(sqe, q->fd, q->flags);
		break;
	case IOQ_RECV_PROVIDED:
		/* Multishot recv wants len 0: each buffer is filled up to
		 * its own size. */
		io_uring_prep_recv(sqe, q->fd, NULL,
				   q->multishot ? 0 : (uint32_t)q->ring->size,
				   (int)q->flags);
		if (q->multishot)
			sqe->ioprio |= IORING_RECV_MULTISHOT;
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = q->ring->group;
		break;
	}
	(void)loop;
}

void exec_io_loop_submit_req_(exec_io_loop *loop, io_req *q)
{
	loop->inflight++;
	if (loop->backend == EXEC_IO_BACKEND_EPOLL) {
		exec_io_epoll_submit_(loop, q);
		return;
	}
	struct io_uring_sqe *sqe = get_sqe(loop);
	uring_prep(loop, sqe, q);
	io_uring_sqe_set_data(sqe, q);
}

void exec_io_loop_cancel_req_(exec_io_loop *loop, io_req *q)
{
	loop->inflight++;
	if (loop->backend == EXEC_IO_BACKEND_EPOLL) {
		exec_io_epoll_cancel_(loop, q);
		return;
	}
	struct io_uring_sqe *sqe = get_sqe(loop);
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)q, 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)q | UD_CANCEL);
}

/* ---- setup ---- */

static bool io_uring_disabled_by_sysctl(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	if (!f)
		return false;
	int v = 0;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	/* 1: only the io_uring_group may use it; setup then says EPERM. */
	return v == 2;
}

/* What the kernel said of the ring it set up. */
static void note_params(exec_io_loop *loop, const struct io_uring_params *p)
{
	loop->features.ext_arg = p->features & IORING_FEAT_EXT_ARG;
	loop->features.min_timeout = p->features & EXEC_IORING_FEAT_MIN_TIMEOUT;
	loop->features.sq_entries = p->sq_entries;
	loop->features.cq_entries = p->cq_entries;
}

static int uring_init(exec_io_loop *loop, const exec_io_loop_options *o)
{
	unsigned entries = o && o->entries ? o->entries : 256;
	bool si = !(o && o->no_single_issuer);
	/* Flag sets from the most to the least wanted; EINVAL drops one. */
	const unsigned sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_R_DISABLED,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_R_DISABLED,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	int rc = -EINVAL;
	unsigned used = 0;
	/* Busy polling watches IORING_SQ_TASKRUN, which the kernel sets
	 * (with TASKRUN_FLAG) when deferred completion work is pending. */
	if (si && o && o->busy_poll_ns > 0) {
		struct io_uring_params p;
		memset(&p, 0, sizeof p);
		p.flags = sets[0] | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_CQSIZE |
			  IORING_SETUP_SUBMIT_ALL;
		p.cq_entries = entries * 4;
		if (io_uring_queue_init_params(entries, &loop->ring, &p) == 0) {
			used = sets[0] | IORING_SETUP_TASKRUN_FLAG;
			note_params(loop, &p);
			rc = 0;
		}
	}
	for (size_t i = si ? 0 : 2; rc != 0 && i < sizeof sets / sizeof sets[0]; i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof p);
		p.flags = sets[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
		p.cq_entries = entries * 4;
		rc = io_uring_queue_init_params(entries, &loop->ring, &p);
		if (rc == -EINVAL) {
			p.flags &= ~(unsigned)IORING_SETUP_SUBMIT_ALL;
			rc = io_uring_queue_init_params(entries, &loop->ring, &p);
		}
		if (rc == 0) {
			used = sets[i];
			note_params(loop, &p);
			break;
		}
		if (rc != -EINVAL)
			return rc;
	}
	if (rc < 0)
		return rc;
	loop->features.single_issuer = used & IORING_SETUP_SINGLE_ISSUER;
	loop->features.defer_taskrun = used & IORING_SETUP_DEFER_TASKRUN;
	loop->features.coop_taskrun = used & IORING_SETUP_COOP_TASKRUN;
	loop->features.taskrun_flag = used & IORING_SETUP_TASKRUN_FLAG;
	loop->enabled = !(used & IORING_SETUP_R_DISABLED);
	struct io_uring_probe *pr = io_uring_get_probe_ring(&loop->ring);
	if (pr) {
		/* Opcodes of the same release stand in for flag features that
		 * have no probe: SOCKET (5.19) for multishot accept and buffer
		 * rings, SEND_ZC (6.0) for multishot recv. */
		bool k519 = io_uring_opcode_supported(pr, IORING_OP_SOCKET);
		loop->features.multishot_accept = k519;
		loop->features.buf_ring = k519;
		loop->features.async_cancel_fd = k519;
		loop->features.multishot_recv =
			io_uring_opcode_supported(pr, IORING_OP_SEND_ZC);
		loop->features.msg_ring =
			io_uring_opcode_supported(pr, IORING_OP_MSG_RING);
		io_uring_free_probe(pr);
	}
	return 0;
}

int exec_io_loop_create(exec_io_loop **out, const exec_io_loop_options *opts)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	exec_io_loop *loop = calloc(1, sizeof *loop);
	if (!loop)
		return -ENOMEM;
	loop->sched.ops = &io_loop_ops;
	loop->epfd = -1;
	exec_timer_heap_init(&loop->timers);
	int rc = pthread_mutex_init(&loop->timer_mu, NULL);
	if (rc) {
		free(loop);
		return -rc;
	}
	loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wake_fd < 0) {
		rc = -errno;
		goto fail_mu;
	}
	exec_io_backend want = opts ? opts->backend : EXEC_IO_BACKEND_AUTO;
	if (want == EXEC_IO_BACKEND_AUTO) {
		const char *env = getenv("CEXEC_FORCE_EPOLL");
		if ((env && strcmp(env, "1") == 0) || io_uring_disabled_by_sysctl())
			want = EXEC_IO_BACKEND_EPOLL;
	}
	rc = -ENOSYS;
	if (want != EXEC_IO_BACKEND_EPOLL) {
		rc = uring_init(loop, opts);
		if (rc == 0) {
			loop->backend = EXEC_IO_BACKEND_URING;
			loop->busy_poll_ns = opts ? opts->busy_poll_ns : 0;
			/* Batched waiting needs the kernel's minimum wait and
			 * DEFER_TASKRUN's counted wake-ups; without them the
			 * option is off (features.min_timeout says which). */
			if (opts && opts->batch_wait_ns > 0 && loop->features.min_timeout &&
			    loop->features.defer_taskrun)
				loop->batch_wait_ns = opts->batch_wait_ns;
		} else if (want == EXEC_IO_BACKEND_URING ||
			 (rc != -EPERM && rc != -ENOSYS && rc != -EACCES))
			goto fail_fd;
	}
	if (rc < 0) {
		memset(&loop->features, 0, sizeof loop->features);
		rc = exec_io_epoll_init_(loop);
		if (rc < 0)
			goto fail_fd;
		loop->backend = EXEC_IO_BACKEND_EPOLL;
	}
	if (opts && opts->watchdog_ns > 0) {
		rc = exec_io_watchdog_start_(loop, opts);
		if (rc < 0) {
			if (loop->backend == EXEC_IO_BACKEND_URING)
				io_uring_queue_exit(&loop->ring);
			else
				exec_io_epoll_destroy_(loop);
			goto fail_fd;
		}
	}
	*out = loop;
	return 0;
fail_fd:
	close(loop->wake_fd);
fail_mu:
	pthread_mutex_destroy(&loop->timer_mu);
	free(loop);
	return rc;
}

void exec_io_loop_destroy(exec_io_loop *loop)
{
	if (!loop)
		return;
	exec_io_watchdog_stop_(loop);
	/* A thread whose task already ran here may still be on its way out
	 * of the submit: a short wait (see io_submit). */
	exec_call_guard_wait(loop);
	/* Queued work ends with EXEC_STOPPED, as the scheduler contract says
	 * for a scheduler that shuts down. */
	exec_io_loop *saved = current;
	current = loop;
	for (int rounds = 0; rounds < 1000; rounds++) {
		drain_remote(loop);
		pthread_mutex_lock(&loop->timer_mu);
		exec_task *t;
		while ((t = exec_timer_heap_pop(&loop->timers))) {
			t->next = loop->cancelled;
			loop->cancelled = t;
		}
		pthread_mutex_unlock(&loop->timer_mu);
		promote_timers(loop);
		if (!loop->head)
			break;
		for (t = loop->head; t; t = t->next)
			STATUS(t) = EXEC_STOPPED;
		run_ready(loop);
	}
	current = saved;
	if (loop->backend == EXEC_IO_BACKEND_URING)
		io_uring_queue_exit(&loop->ring);
	else
		exec_io_epoll_destroy_(loop);
	close(loop->wake_fd);
	pthread_mutex_destroy(&loop->timer_mu);
	free(loop);
}

const char *exec_io_loop_backend_name(const exec_io_loop *loop)
{
	return loop->backend == EXEC_IO_BACKEND_EPOLL ? "epoll" : "io_uring";
}

exec_io_backend exec_io_loop_backend(const exec_io_loop *loop)
{
	return loop->backend;
}

const exec_io_features *exec_io_loop_features(const exec_io_loop *loop)
{
	return &loop->features;
}

/* ---- running ---- */

/* First entry on the running thread: with R_DISABLED the ring binds its
 * single issuer here, not at creation. */
/* The last loop this thread found it may drive (see enter). */
static _Thread_local const exec_io_loop *checked_here
	__attribute__((tls_model("initial-exec")));

static int enter(exec_io_loop *loop)
{
	if (loop->backend != EXEC_IO_BACKEND_URING)
		return 0;
	if (!loop->enabled) {
		/* liburing 2.3 declares io_uring_enable_rings but does not
		 * export it: register directly. */
		long rc = syscall(__NR_io_uring_register, loop->ring.ring_fd,
				  IORING_REGISTER_ENABLE_RINGS, NULL, 0);
		if (rc < 0)
			return -errno;
		loop->enabled = true;
		checked_here = loop;
	} else if (loop->features.defer_taskrun && checked_here != loop) {
		/* SINGLE_ISSUER bound the ring to the thread that enabled
		 * it; from any other thread every enter fails with -EEXIST.
		 * Find out with one enter before anything is started here,
		 * so the caller gets a clean error, not a submission stuck
		 * in the SQ. */
		int rc = io_uring_get_events(&loop->ring);
		if (rc == -EEXIST)
			return -EEXIST;
		checked_here = loop;
	}
	if (!loop->wake_armed) {
		loop->wake_armed = true;
		arm_wake(loop);
	}
	return 0;
}

static struct __kernel_timespec to_ts(int64_t ns)
{
	struct __kernel_timespec ts;
	ts.tv_sec = ns / EXEC_NS_PER_S;
	ts.tv_nsec = ns % EXEC_NS_PER_S;
	return ts;
}

/* Waits for I/O (timeout_ns: -1 forever, 0 poll) and delivers it. */
static int wait_io(exec_io_loop *loop, int64_t timeout_ns)
{
	if (loop->backend == EXEC_IO_BACKEND_EPOLL) {
		return exec_io_epoll_wait_(loop, timeout_ns);
	}
	int rc;
	if (timeout_ns == 0) {
		rc = submit_pending(loop, true);
	} else {
		struct io_uring_cqe *cqe;
		if (timeout_ns < 0) {
			rc = io_uring_submit_and_wait(&loop->ring, 1);
		} else {
			struct __kernel_timespec ts = to_ts(timeout_ns);
			rc = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1,
							      &ts, NULL);
		}
		if (rc == -ETIME || rc == -EINTR || rc == -EBUSY || rc == -EAGAIN)
			rc = 0;
	}
	if (rc < 0)
		return rc;
	return reap(loop);
}

/* options.batch_wait_ns: sleeps until BATCH_WAIT_NR completions are ready,
 * or batch_wait_ns has passed (with timeout_ns >= 0 the kernel then goes on
 * waiting for one completion until timeout_ns; with -1 it returns, and the
 * next sleep, having brought nothing, is a plain one). With DEFER_TASKRUN the kernel wakes the loop only once the
 * batch is ready (or the minimum wait ends), so the completions that arrive
 * meanwhile cost their producers no wake-up: on loopback that is the
 * peer's CPU sending an interrupt per request. The kernel's minimum wait
 * travels in io_uring_getevents_arg's former pad field (min_wait_usec). */
enum { BATCH_WAIT_NR = 32 };

static int wait_io_batch(exec_io_loop *loop, int64_t timeout_ns)
{
	int rc = submit_pending(loop, false);
	if (rc < 0)
		return rc;
	struct exec_getevents_arg arg;
	memset(&arg, 0, sizeof arg);
	/* The kernel sleeps out the minimum wait before it looks at the
	 * timeout: a timer due sooner bounds the minimum wait too. */
	int64_t min_ns = loop->batch_wait_ns;
	if (timeout_ns >= 0 && timeout_ns < min_ns)
		min_ns = timeout_ns;
	int64_t us = min_ns / 1000;
	arg.min_wait_usec = (uint32_t)(us < 1 ? 1 : us > UINT32_MAX ? UINT32_MAX : us);
	struct __kernel_timespec ts;
	if (timeout_ns >= 0) {
		ts = to_ts(timeout_ns);
		arg.ts = (uint64_t)(uintptr_t)&ts;
	}
	rc = io_uring_enter2(loop->ring.ring_fd, 0, BATCH_WAIT_NR,
			     IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
			     (sigset_t *)(void *)&arg, sizeof arg);
	if (rc == -EINVAL) {
		/* A kernel that announced the minimum wait but refuses it:
		 * wait plainly from now on rather than fail the loop. */
		loop->batch_wait_ns = 0;
		return wait_io(loop, timeout_ns);
	}
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
		return rc;
	return reap(loop);
}

/* options.busy_poll_ns: watches the rings until a completion, a task from
 * another thread, a stop, the next timer (next, -1: none) or the end of
 * the poll. With TASKRUN_FLAG, pending completion work shows in the SQ
 * flags and the watch is a memory read (queued submissions go in first);
 * otherwise each round is an enter that runs it. Returns the callbacks
 * run (0: nothing came). */
static int busy_poll(exec_io_loop *loop, exec_time next)
{
	exec_time until = exec_clock_now() + loop->busy_poll_ns;
	if (next >= 0 && next < until)
		until = next;
	for (;;) {
		if (!loop->features.taskrun_flag || io_uring_sq_ready(&loop->ring) ||
		    (IO_URING_READ_ONCE(*loop->ring.sq.kflags) & IORING_SQ_TASKRUN)) {
			int rc = submit_pending(loop, true);
			if (rc < 0)
				return rc;
		}
		int n = reap(loop);
		if (n)
			return n;
		if (AO_load(&loop->remote) || AO_load(&loop->stop) ||
		    exec_clock_now() >= until)
			return 0;
		exec_cpu_relax();
	}
}

static int iteration(exec_io_loop *loop, bool block)
{
	int ran = 0;
	drain_remote(loop);
	exec_time next = promote_timers(loop);
	ran += run_ready(loop);
	if (ran) {
		next = promote_timers(loop);
		drain_remote(loop);
	}
	bool more = loop->head != NULL;
	int rc;
	if (more || ran || !block || AO_load(&loop->stop)) {
		/* Busy: submit what the tasks queued and pick up completions
		 * without sleeping; with DEFER_TASKRUN completions need an
		 * enter, done every iteration that has work in flight. */
		if (loop->backend == EXEC_IO_BACKEND_URING) {
			bool sq = io_uring_sq_ready(&loop->ring) > 0;
			if (sq || (loop->inflight && (++loop->busy_rounds & 15) == 0) ||
			    !more) {
				rc = submit_pending(loop, true);
				if (rc < 0)
					return rc;
			}
			rc = reap(loop);
		} else if (loop->done_head || !more ||
			   (loop->inflight && (++loop->busy_rounds & 15) == 0)) {
			/* Completions to deliver, or a look at epoll now and
			 * then: not a system call per task while tasks keep
			 * queueing tasks (1.2 us per schedule before). */
			rc = exec_io_epoll_wait_(loop, 0);
		} else {
			rc = 0;
		}
		loop->worked = ran > 0 || rc > 0;
		return rc < 0 ? rc : ran + rc;
	}
	/* Under load, poll briefly rather than sleep (options.busy_poll_ns);
	 * once a poll found nothing, the next sleep is a plain one. */
	if (loop->busy_poll_ns > 0 && loop->worked && loop->inflight) {
		rc = busy_poll(loop, next);
		loop->worked = rc != 0;
		if (rc != 0)
			return rc < 0 ? rc : ran + rc;
	}
	/* Nothing ready: sleep until I/O, a wake-up or the next timer. The
	 * sleeping flag is published before the last look at the remote
	 * queue, so a submitter either sees it or we see its task. */
	AO_store_full(&loop->sleeping, 1);
	int64_t timeout = -1;
	if (AO_load_full(&loop->remote) || AO_load_full(&loop->stop)) {
		timeout = 0;
	} else if (next >= 0) {
		exec_time now = exec_clock_now();
		timeout = next > now ? next - now : 0;
	} else if (AO_load_acquire(&loop->ntimers)) {
		timeout = 0; /* a cancelled timer is waiting */
	}
	/* Batched waiting (options.batch_wait_ns) once the last wake-up
	 * completed more operations than one request and its reply: several
	 * peers are active. A lone request-reply peer (its reply's completion
	 * is in the ring when the loop sleeps, its next request ends the wait;
	 * a multishot recv's pieces count once) never waits for a batch. */
	if (timeout != 0 && loop->batching && loop->inflight)
		rc = wait_io_batch(loop, timeout);
	else
		rc = wait_io(loop, timeout);
	AO_store_full(&loop->sleeping, 0);
	loop->worked = rc > 0;
	loop->batching = loop->batch_wait_ns > 0 && rc > 0 && loop->reaped_ops > 2;
	return rc < 0 ? rc : ran + rc;
}

int exec_io_loop_run_once(exec_io_loop *loop, bool block)
{
	exec_io_loop *saved = current;
	current = loop;
	int rc = enter(loop);
	if (rc == 0)
		rc = iteration(loop, block);
	current = saved;
	return rc;
}

int exec_io_loop_run(exec_io_loop *loop)
{
	exec_io_loop *saved = current;
	current = loop;
	int rc = enter(loop);
	while (rc >= 0 && !AO_load_acquire(&loop->stop))
		rc = iteration(loop, true);
	AO_store_release(&loop->stop, 0);
	current = saved;
	return rc < 0 ? rc : 0;
}

void exec_io_loop_stop(exec_io_loop *loop)
{
	/* The loop may return from run, and be destroyed, at once. */
	void *guard = exec_call_guard_enter(loop);
	AO_store_full(&loop->stop, 1);
	wake(loop);
	exec_call_guard_leave(guard);
}

size_t exec_io_loop_inflight(const exec_io_loop *loop)
{
	return loop->inflight;
}

static bool empty(exec_io_loop *loop)
{
	return !loop->head && !AO_load_acquire(&loop->remote) &&
	       !AO_load_acquire(&loop->ntimers) && loop->inflight == 0;
}

int exec_io_loop_run_until_empty(exec_io_loop *loop)
{
	exec_io_loop *saved = current;
	current = loop;
	int rc = enter(loop);
	while (rc >= 0 && !empty(loop))
		rc = iteration(loop, true);
	current = saved;
	return rc < 0 ? rc : 0;
}

/* ---- sync_wait on the loop ---- */

typedef struct loop_wait {
	exec_receiver self;
	exec_env env;
	exec_result *r;
	int rc;
	bool done;
} loop_wait;

static void lw_value(exec_receiver *r, const exec_value *v, size_t n)
{
	loop_wait *w = EXEC_CONTAINER_OF(r, loop_wait, self);
	w->done = true;
	w->rc = 0;
	if (!w->r)
		return;
	w->r->kind = EXEC_RESULT_VALUE;
	w->r->count = n;
	if (n > EXEC_RESULT_INLINE_VALUES) {
		w->r->values = malloc(n * sizeof *v);
		if (!w->r->values) {
			w->r->values = w->r->inline_values;
			w->r->kind = EXEC_RESULT_ERROR;
			w->r->error = w->rc = -ENOMEM;
			w->r->count = 0;
			return;
		}
	}
	for (size_t i = 0; i < n; i++)
		w->r->values[i] = v[i];
}

static void lw_error(exec_receiver *r, int err)
{
	loop_wait *w = EXEC_CONTAINER_OF(r, loop_wait, self);
	w->done = true;
	w->rc = err;
	if (w->r) {
		w->r->kind = EXEC_RESULT_ERROR;
		w->r->error = err;
	}
}

static void lw_stopped(exec_receiver *r)
{
	loop_wait *w = EXEC_CONTAINER_OF(r, loop_wait, self);
	w->done = true;
	w->rc = EXEC_STOPPED;
	if (w->r)
		w->r->kind = EXEC_RESULT_STOPPED;
}

static const exec_env *lw_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, loop_wait, self)->env;
}

static const exec_receiver_ops lw_ops = {lw_value, lw_error, lw_stopped, lw_env};

int exec_io_loop_sync_wait_with_stop(exec_io_loop *loop, const exec_sender *s,
				     exec_stop_token token, exec_result *r)
{
	if (r) {
		memset(r, 0, sizeof *r);
		r->values = r->inline_values;
	}
	if (!loop || !s)
		return -EINVAL;
	loop_wait w = {{&lw_ops}, {token, &loop->sched, NULL}, r, 0, false};
	_Alignas(64) unsigned char stack[EXEC_SYNC_WAIT_STACK_OP];
	void *storage = stack;
	size_t size = exec_sender_op_size(s), align = exec_sender_op_align(s);
	bool heap = size > sizeof stack || align > 64;
	if (heap) {
		storage = aligned_alloc(align, (size + align - 1) & ~(align - 1));
		if (!storage)
			return -ENOMEM;
	}
	int rc = exec_connect(s, storage, &w.self);
	if (rc < 0) {
		if (heap)
			free(storage);
		if (r) {
			r->kind = EXEC_RESULT_ERROR;
			r->error = rc;
		}
		return rc;
	}
	exec_io_loop *saved = current;
	current = loop;
	rc = enter(loop);
	bool started = rc == 0;
	if (started) {
		exec_start((exec_op *)storage);
		while (!w.done) {
			rc = iteration(loop, true);
			if (rc < 0)
				break;
		}
	}
	current = saved;
	/* Never started (enter failed): the op may be discarded. */
	if (heap && (w.done || !started))
		free(storage);
	return rc < 0 ? rc : w.rc;
}

int exec_io_loop_sync_wait(exec_io_loop *loop, const exec_sender *s,
			   exec_result *r)
{
	return exec_io_loop_sync_wait_with_stop(loop, s, exec_stop_token_never(), r);
}

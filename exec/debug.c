/* The in-flight registry: one global doubly-linked list under a spin lock.
 * The lock is a test-and-set word so that the dump, which may run in a
 * signal handler on a thread that already holds it, can try a bounded
 * number of times and give up instead of deadlocking. */
#include "exec/debug.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

AO_t exec_debug_state_ = 0;

static AO_TS_t lock = AO_TS_INITIALIZER;
static exec_debug_op *head;
static long count;

void exec_debug_enable(bool on)
{
	AO_store(&exec_debug_state_, on ? 2 : 1);
}

bool exec_debug_enabled_slow_(void)
{
	const char *e = getenv("CEXEC_DEBUG_INFLIGHT");
	bool on = e && e[0] == '1';
	/* Only the first reader decides; a concurrent enable() wins. */
	AO_compare_and_swap(&exec_debug_state_, 0, on ? 2 : 1);
	return AO_load(&exec_debug_state_) == 2;
}

static void lock_take(void)
{
	while (AO_test_and_set_acquire(&lock) == AO_TS_SET) {
	}
}

static bool lock_try(void)
{
	for (int i = 0; i < 100000; i++)
		if (AO_test_and_set_acquire(&lock) != AO_TS_SET)
			return true;
	return false;
}

static void lock_give(void)
{
	AO_CLEAR(&lock);
}

void exec_debug_op_begin(exec_debug_op *op, const char *what,
			 const char *where_name, const char *detail,
			 const void *where, int fd)
{
	op->what = what ? what : "?";
	op->where_name = where_name;
	op->detail = detail;
	op->where = where;
	op->fd = fd;
	op->since = exec_clock_now();
	op->prev = NULL;
	lock_take();
	op->next = head;
	if (head)
		head->prev = op;
	head = op;
	count++;
	op->registered = true;
	lock_give();
}

void exec_debug_op_end(exec_debug_op *op)
{
	if (!op || !op->registered)
		return;
	lock_take();
	if (op->prev)
		op->prev->next = op->next;
	else
		head = op->next;
	if (op->next)
		op->next->prev = op->prev;
	count--;
	op->registered = false;
	lock_give();
}

long exec_debug_inflight_count(void)
{
	lock_take();
	long n = count;
	lock_give();
	return n;
}

/* ---- signal-safe formatting ---- */

typedef struct out {
	int fd;
	char buf[512];
	size_t len;
	int err;
} out;

static void flush(out *o)
{
	size_t off = 0;
	while (off < o->len && !o->err) {
		ssize_t n = write(o->fd, o->buf + off, o->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			o->err = -errno;
			break;
		}
		off += (size_t)n;
	}
	o->len = 0;
}

static void put(out *o, const char *s)
{
	for (; *s; s++) {
		if (o->len == sizeof o->buf)
			flush(o);
		o->buf[o->len++] = *s;
	}
}

static void put_u(out *o, unsigned long long v, int base, int min_digits)
{
	char tmp[32];
	int n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % (unsigned)base];
		v /= (unsigned)base;
	} while (v && n < (int)sizeof tmp);
	while (n < min_digits && n < (int)sizeof tmp)
		tmp[n++] = '0';
	char s[33];
	for (int i = 0; i < n; i++)
		s[i] = tmp[n - 1 - i];
	s[n] = '\0';
	put(o, s);
}

int exec_debug_dump(int fd)
{
	out o = {.fd = fd};
	if (!lock_try()) {
		put(&o, "cexec: in-flight registry busy (try again)\n");
		flush(&o);
		return o.err ? o.err : -EAGAIN;
	}
	exec_time now = exec_clock_now();
	put(&o, "cexec: ");
	put_u(&o, (unsigned long long)count, 10, 1);
	put(&o, " operation(s) in flight");
	if (AO_load(&exec_debug_state_) != 2)
		put(&o, " (registry disabled: exec_debug_enable or CEXEC_DEBUG_INFLIGHT=1)");
	put(&o, "\n");
	int listed = 0;
	for (exec_debug_op *op = head; op; op = op->next, listed++) {
		put(&o, "  ");
		put(&o, op->what);
		if (op->fd >= 0) {
			put(&o, " fd=");
			put_u(&o, (unsigned long long)op->fd, 10, 1);
		}
		if (op->where_name || op->where) {
			put(&o, " on ");
			put(&o, op->where_name ? op->where_name : "scheduler");
			if (op->where) {
				put(&o, " 0x");
				put_u(&o, (unsigned long long)(uintptr_t)op->where, 16, 1);
			}
			if (op->detail) {
				put(&o, " (");
				put(&o, op->detail);
				put(&o, ")");
			}
		}
		exec_time age = now > op->since ? now - op->since : 0;
		put(&o, ", started ");
		put_u(&o, (unsigned long long)(age / EXEC_NS_PER_MS), 10, 1);
		put(&o, ".");
		put_u(&o, (unsigned long long)((age % EXEC_NS_PER_MS) / 1000), 10, 3);
		put(&o, " ms ago\n");
	}
	lock_give();
	flush(&o);
	return o.err ? o.err : listed;
}

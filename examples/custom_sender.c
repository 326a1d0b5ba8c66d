/* examples/custom_sender.c - writing your own senders against exec/sender.h.
 *
 * Two senders, written with nothing but the public protocol:
 *
 *   fib_sender(n)       a leaf: completes with the n-th Fibonacci number
 *                       (value channel), -ERANGE when it does not fit in an
 *                       int64 (error channel), or stopped when its receiver's
 *                       stop token was already triggered at start.
 *   add_sender(child,k) an adaptor: runs child, whose operation state is
 *                       embedded in its own, and adds k to child's first
 *                       value; errors and stopped pass through.
 *
 * What every sender provides: op_size / op_align (the storage connect gets),
 * max_values (most values it sends), connect (build the operation state in
 * the caller's storage; allocate nothing), destroy (drop children, free).
 * The operation state starts with an exec_op whose start function runs it.
 * Rules: complete exactly once, never before start; after the completion
 * call do not touch the operation (the receiver may have freed it).
 *
 * The program checks every result and exits non-zero on a wrong one. */
/* CEXEC_TEST_ARGS: */
#include <cexec.h>
#include <errno.h>
#include <stdio.h>

/* ---- a leaf sender ---- */

typedef struct fib_sender {
	exec_sender base; /* first: the library sees an exec_sender */
	int n;
} fib_sender;

typedef struct fib_op {
	exec_op op; /* first: exec_start calls op.start */
	exec_receiver *r;
	int n;
} fib_op;

static void fib_start(exec_op *op)
{
	fib_op *o = (fib_op *)op;
	/* Copy what we need: after a completion call o may be gone. */
	exec_receiver *r = o->r;
	int n = o->n;

	if (exec_stop_token_requested(exec_get_stop_token(r))) {
		exec_set_stopped(r);
		return;
	}
	if (n < 0 || n > 92) { /* fib(93) overflows int64 */
		exec_set_error(r, -ERANGE);
		return;
	}
	int64_t a = 0, b = 1;
	for (int i = 0; i < n; i++) {
		int64_t t = a + b;
		a = b;
		b = t;
	}
	exec_value v = exec_value_i64(a);
	exec_set_value(r, &v, 1);
}

static int fib_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	fib_op *o = (fib_op *)op;
	o->op.start = fib_start;
	o->r = r;
	o->n = ((const fib_sender *)s)->n;
	return 0;
}

static void fib_destroy(exec_sender *s)
{
	exec_sender_delete(s); /* no children to drop */
}

static const exec_sender_ops fib_ops = {"fib", fib_connect, fib_destroy};

/* Like every builder: never NULL; out of memory gives a sender that
 * completes with -ENOMEM. */
static exec_sender *fib_sender_new(int n)
{
	fib_sender *s = exec_sender_new(&fib_ops, sizeof *s);
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	s->base.op_size = sizeof(fib_op);
	/* op_align stays EXEC_OP_ALIGN (16), enough for fib_op. */
	s->base.max_values = 1;
	s->n = n;
	return &s->base;
}

/* ---- an adaptor sender with an embedded child ---- */

typedef struct add_sender {
	exec_sender base;
	exec_sender *child; /* owned: dropped by destroy */
	uint32_t child_off; /* where the child's op state sits in ours */
	int64_t k;
} add_sender;

typedef struct add_op {
	exec_op op;
	exec_receiver self; /* the receiver the child completes to */
	exec_receiver *out; /* our own receiver */
	exec_op *child;     /* the child's op state, inside our storage */
	int64_t k;
} add_op;

static add_op *add_from_self(exec_receiver *r)
{
	return EXEC_CONTAINER_OF(r, add_op, self);
}

static void add_value(exec_receiver *r, const exec_value *v, size_t n)
{
	add_op *o = add_from_self(r);
	int64_t x;
	/* Checked access: a child sending something else is an error, not a
	 * crash. */
	if (n < 1 || exec_value_get_i64(&v[0], &x) < 0) {
		exec_set_error(o->out, -EINVAL);
		return;
	}
	exec_value out = exec_value_i64(x + o->k);
	exec_set_value(o->out, &out, 1);
}

static void add_error(exec_receiver *r, int err)
{
	exec_set_error(add_from_self(r)->out, err);
}

static void add_stopped(exec_receiver *r)
{
	exec_set_stopped(add_from_self(r)->out);
}

/* The child sees our receiver's environment: its stop token, scheduler
 * and allocator. */
static const exec_env *add_env(exec_receiver *r)
{
	return exec_get_env(add_from_self(r)->out);
}

static const exec_receiver_ops add_receiver_ops = {add_value, add_error,
						   add_stopped, add_env};

static void add_start(exec_op *op)
{
	exec_start(((add_op *)op)->child);
}

static int add_connect(const exec_sender *sb, exec_op *op, exec_receiver *r)
{
	const add_sender *s = (const add_sender *)sb;
	add_op *o = (add_op *)op;
	o->op.start = add_start;
	o->self.ops = &add_receiver_ops;
	o->out = r;
	o->child = (exec_op *)((char *)o + s->child_off);
	o->k = s->k;
	/* Connect the child into its slot of our storage: no allocation. */
	return exec_connect(s->child, o->child, &o->self);
}

static void add_destroy(exec_sender *sb)
{
	add_sender *s = (add_sender *)sb;
	exec_sender_free(s->child);
	exec_sender_delete(sb);
}

static const exec_sender_ops add_ops = {"add", add_connect, add_destroy};

/* Consumes child (also on failure), like every algorithm. */
static exec_sender *add_sender_new(exec_sender *child, int64_t k)
{
	if (!child)
		return exec_sender_invalid(-EINVAL);
	int err = exec_sender_build_error(child);
	if (err) { /* a failed build stays failed */
		exec_sender_free(child);
		return exec_sender_invalid(err);
	}
	add_sender *s = exec_sender_new(&add_ops, sizeof *s);
	if (!s) {
		exec_sender_free(child);
		return exec_sender_invalid(-ENOMEM);
	}
	/* Our header, then the child's block, aligned as it asks. */
	uint32_t size = sizeof(add_op), align = EXEC_OP_ALIGN;
	s->child_off = exec_layout_add(&size, &align, exec_sender_op_size(child),
				       exec_sender_op_align(child));
	s->base.op_size = size;
	s->base.op_align = align;
	s->base.max_values = 1;
	s->child = child;
	s->k = k;
	return &s->base;
}

/* ---- using them ---- */

static int failures;

static void check(int ok, const char *what)
{
	printf("%-48s %s\n", what, ok ? "ok" : "WRONG");
	if (!ok)
		failures++;
}

static int64_t i64_of(const exec_result *r, size_t i)
{
	int64_t x = INT64_MIN;
	if (r->kind == EXEC_RESULT_VALUE && i < r->count)
		exec_value_get_i64(&r->values[i], &x);
	return x;
}

int main(void)
{
	exec_result r;

	exec_sender *fib10 = fib_sender_new(10);
	check(exec_sync_wait(fib10, &r) == 0 && i64_of(&r, 0) == 55, "fib(10) = 55");
	/* Senders are reusable: run it again. */
	check(exec_sync_wait(fib10, &r) == 0 && i64_of(&r, 0) == 55, "fib(10) again");

	exec_sender *too_big = fib_sender_new(100);
	check(exec_sync_wait(too_big, &r) == -ERANGE && r.kind == EXEC_RESULT_ERROR,
	      "fib(100) -> -ERANGE");
	exec_sender_free(too_big);

	/* Composition with library algorithms; add_sender consumes its child,
	 * so take a reference to keep fib10 for later. */
	exec_sender *s = add_sender_new(exec_sender_ref(fib10), 3);
	check(exec_sync_wait(s, &r) == 0 && i64_of(&r, 0) == 58, "add(fib(10), 3) = 58");

	exec_sender *both = exec_when_all2(s, add_sender_new(fib_sender_new(20), -765));
	check(exec_sync_wait(both, &r) == 0 && r.count == 2 && i64_of(&r, 0) == 58 &&
		      i64_of(&r, 1) == 6000,
	      "when_all(add(fib 10, 3), add(fib 20, -765))");
	exec_sender_free(both);

	/* Errors pass through the adaptor; a wrong value type becomes one. */
	s = add_sender_new(exec_just_error(-EIO), 1);
	check(exec_sync_wait(s, &r) == -EIO, "add(just_error(-EIO)) -> -EIO");
	exec_sender_free(s);
	s = add_sender_new(exec_just_f64(1.5), 1);
	check(exec_sync_wait(s, &r) == -EINVAL, "add(just_f64) -> -EINVAL");
	exec_sender_free(s);
	s = add_sender_new(NULL, 1);
	check(exec_sender_build_error(s) == -EINVAL && exec_sync_wait(s, &r) == -EINVAL,
	      "add(NULL) -> -EINVAL sender");
	exec_sender_free(s);

	/* Stop: the receiver's token reaches the leaf through the adaptor's
	 * environment. */
	exec_stop_source stop;
	exec_stop_source_init(&stop);
	exec_stop_source_request(&stop);
	s = add_sender_new(exec_sender_ref(fib10), 1);
	check(exec_sync_wait_with_stop(s, exec_stop_source_token(&stop), &r) ==
			      EXEC_STOPPED &&
		      r.kind == EXEC_RESULT_STOPPED,
	      "stop requested before start -> stopped");
	exec_sender_free(s);

	/* Connect by hand into caller storage (what sync_wait does inside). */
	s = add_sender_new(exec_sender_ref(fib10), 0);
	printf("op state: fib %zu bytes, add(fib) %zu bytes\n",
	       exec_sender_op_size(fib10), exec_sender_op_size(s));
	check(exec_sender_op_size(s) >= sizeof(add_op) + sizeof(fib_op),
	      "child op state embedded in the parent's");
	exec_sender_free(s);

	exec_sender_free(fib10);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	return failures ? 1 : 0;
}

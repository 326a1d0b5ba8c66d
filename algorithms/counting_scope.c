#include "algorithms/counting_scope.h"

#include <errno.h>

typedef struct spawn_op {
	exec_receiver self;
	exec_env env;
	exec_counting_scope *scope;
	exec_sender *s;
	size_t size;
} spawn_op;

struct exec_scope_join_op {
	exec_op op;
	exec_receiver *r;
	exec_counting_scope *scope;
	exec_scope_join_op *next;
};

int exec_counting_scope_init(exec_counting_scope *scope)
{
	if (!scope)
		return -EINVAL;
	scope->count = 0;
	scope->closed = 0;
	scope->spawned = 0;
	scope->waiters = NULL;
	exec_stop_source_init(&scope->stop);
	int rc = pthread_mutex_init(&scope->mu, NULL);
	return rc ? -rc : 0;
}

void exec_counting_scope_destroy(exec_counting_scope *scope)
{
	if (scope)
		pthread_mutex_destroy(&scope->mu);
}

/* Drops one count. The 1 -> 0 transition happens under the mutex, so a
 * join that saw zero under the mutex knows no releaser will touch the scope
 * again (the owner may destroy it as soon as join completes). */
static void scope_release(exec_counting_scope *scope)
{
	for (;;) {
		AO_t c = AO_load(&scope->count);
		if (c <= 1)
			break;
		if (AO_compare_and_swap_full(&scope->count, c, c - 1))
			return;
	}
	pthread_mutex_lock(&scope->mu);
	exec_scope_join_op *w = NULL;
	if (AO_fetch_and_sub1_full(&scope->count) == 1) {
		w = scope->waiters;
		scope->waiters = NULL;
	}
	pthread_mutex_unlock(&scope->mu);
	while (w) {
		exec_scope_join_op *next = w->next;
		exec_set_value(w->r, NULL, 0);
		w = next;
	}
}

static void spawn_done(exec_receiver *r)
{
	spawn_op *o = EXEC_CONTAINER_OF(r, spawn_op, self);
	exec_counting_scope *scope = o->scope;
	exec_sender *s = o->s;
	exec_env env = o->env;
	exec_env_free(&env, o, o->size);
	exec_sender_free(s);
	scope_release(scope);
}

static void spawn_value(exec_receiver *r, const exec_value *v, size_t n)
{
	(void)v;
	(void)n;
	spawn_done(r);
}

static void spawn_error(exec_receiver *r, int err)
{
	(void)err;
	spawn_done(r);
}

static const exec_env *spawn_env(exec_receiver *r)
{
	return &EXEC_CONTAINER_OF(r, spawn_op, self)->env;
}

static const exec_receiver_ops spawn_ops = {spawn_value, spawn_error, spawn_done,
					    spawn_env};

int exec_scope_spawn(exec_counting_scope *scope, exec_sender *s, const exec_env *env)
{
	if (!scope || !s) {
		exec_sender_free(s);
		return -EINVAL;
	}
	/* A failed build's own error (-ENOMEM, say), as start_detached does. */
	int built = exec_sender_build_error(s);
	if (built) {
		exec_sender_free(s);
		return built;
	}
	if (!env)
		env = &exec_env_empty;
	/* Count first, then look at closed: a spawn that passes the check is
	 * counted before any join that follows the close can see zero. */
	AO_fetch_and_add1_full(&scope->count);
	if (AO_load_acquire(&scope->closed)) {
		exec_sender_free(s);
		scope_release(scope);
		return -ESHUTDOWN;
	}
	size_t align = exec_sender_op_align(s);
	if (align < _Alignof(spawn_op))
		align = _Alignof(spawn_op);
	size_t off = (sizeof(spawn_op) + align - 1) & ~(align - 1);
	size_t size = off + exec_sender_op_size(s);
	spawn_op *o = exec_env_alloc(env, size, align);
	if (!o) {
		exec_sender_free(s);
		scope_release(scope);
		return -ENOMEM;
	}
	o->self.ops = &spawn_ops;
	o->env.stop_token = exec_scope_token(scope);
	o->env.scheduler = env->scheduler;
	o->env.allocator = env->allocator;
	o->scope = scope;
	o->s = s;
	o->size = size;
	exec_op *op = (exec_op *)((char *)o + off);
	int rc = s->ops->connect(s, op, &o->self);
	if (rc < 0) {
		exec_env_free(env, o, size);
		exec_sender_free(s);
		scope_release(scope);
		return rc;
	}
	AO_fetch_and_add1(&scope->spawned);
	exec_start(op);
	return 0;
}

static void join_start(exec_op *op)
{
	exec_scope_join_op *j = (exec_scope_join_op *)op;
	exec_counting_scope *scope = j->scope;
	pthread_mutex_lock(&scope->mu);
	if (AO_load_acquire(&scope->count) == 0) {
		pthread_mutex_unlock(&scope->mu);
		exec_set_value(j->r, NULL, 0);
		return;
	}
	j->next = scope->waiters;
	scope->waiters = j;
	pthread_mutex_unlock(&scope->mu);
}

typedef struct join_sender {
	exec_sender base;
	exec_counting_scope *scope;
} join_sender;

static int join_connect(const exec_sender *s, exec_op *op, exec_receiver *r)
{
	exec_scope_join_op *j = (exec_scope_join_op *)op;
	j->op.start = join_start;
	j->r = r;
	j->scope = ((const join_sender *)s)->scope;
	j->next = NULL;
	return 0;
}

static void join_destroy(exec_sender *s)
{
	exec_sender_delete(s);
}

static const exec_sender_ops join_ops = {"scope_join", join_connect, join_destroy};

exec_sender *exec_scope_join(exec_counting_scope *scope)
{
	if (!scope)
		return exec_sender_invalid(-EINVAL);
	join_sender *s = exec_sender_new(&join_ops, sizeof *s);
	if (!s)
		return exec_sender_invalid(-ENOMEM);
	s->base.op_size = sizeof(exec_scope_join_op);
	s->scope = scope;
	return &s->base;
}

void exec_scope_close(exec_counting_scope *scope)
{
	if (scope)
		AO_store_release(&scope->closed, 1);
}

bool exec_scope_request_stop(exec_counting_scope *scope)
{
	return scope && exec_stop_source_request(&scope->stop);
}

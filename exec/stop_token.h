/* exec/stop_token.h - in-place stop source, token and callbacks.
 *
 * A stop source is a plain struct the owner embeds (no allocation); a token
 * is a copyable handle to it; a callback is a caller-provided node that is
 * linked into the source while registered. All functions are safe from any
 * thread. The rules (P2300's inplace_stop_source):
 *   - registering on a token whose stop was already requested runs the
 *     callback at once, on the registering thread, and registers nothing;
 *   - a stop request runs every registered callback once, on the requesting
 *     thread, in registration order;
 *   - deregistering a callback that is running on another thread waits for
 *     it to return; deregistering from inside that callback does not wait.
 * After deregister returns, the callback will not run and its node may be
 * freed. A source must outlive every callback registered on it. */
#ifndef EXEC_STOP_TOKEN_H
#define EXEC_STOP_TOKEN_H

#include <atomic_ops.h>
#include <pthread.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_stop_callback exec_stop_callback;
typedef void (*exec_stop_fn)(exec_stop_callback *cb);

typedef struct exec_stop_source {
	AO_t state; /* bit 0: list lock, bit 1: stop requested */
	exec_stop_callback *head;
	pthread_t requesting_thread;
	exec_stop_callback *running; /* callback being run by the request */
	exec_stop_callback *tail;    /* last registered (NULL: list empty) */
} exec_stop_source;

/* A token: a handle to a source, or to nothing (source == NULL: stop is
 * never possible). Tokens are passed by value. */
typedef struct exec_stop_token {
	exec_stop_source *source;
} exec_stop_token;

struct exec_stop_callback {
	exec_stop_callback *next;
	exec_stop_callback **prev_next;
	exec_stop_fn fn;
	exec_stop_source *source;  /* NULL when not registered */
	bool *removed_during_run;  /* set by a deregister from inside fn */
	AO_t finished;             /* set once fn has returned */
};

#define EXEC_STOP_SOURCE_INIT {0, NULL, 0, NULL, NULL}

void exec_stop_source_init(exec_stop_source *src);

/* Requests stop and runs the registered callbacks. Returns true if this call
 * made the request, false if stop had already been requested. */
bool exec_stop_source_request(exec_stop_source *src);

bool exec_stop_source_requested(const exec_stop_source *src);

static inline exec_stop_token exec_stop_source_token(exec_stop_source *src)
{
	exec_stop_token t = {src};
	return t;
}

/* The token that never stops. */
static inline exec_stop_token exec_stop_token_never(void)
{
	exec_stop_token t = {NULL};
	return t;
}

static inline bool exec_stop_token_possible(exec_stop_token t)
{
	return t.source != NULL;
}

static inline bool exec_stop_token_requested(exec_stop_token t)
{
	return t.source && exec_stop_source_requested(t.source);
}

/* Registers fn on the token. Returns true when registered; false when the
 * token cannot stop (nothing happens) or stop was already requested (fn has
 * already run, on this thread, before the return). Either way calling
 * exec_stop_callback_deregister afterwards is valid and cheap. */
bool exec_stop_callback_register(exec_stop_callback *cb, exec_stop_token t,
				 exec_stop_fn fn);

/* Removes the callback. If fn is running on another thread, waits until it
 * returns; from inside fn itself, returns at once. No-op if not registered. */
void exec_stop_callback_deregister(exec_stop_callback *cb);

#ifdef __cplusplus
}
#endif
#endif

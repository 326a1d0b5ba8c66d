/* exec/env.h - the environment a receiver answers queries with.
 *
 * Every receiver can be asked for its environment: the stop token its
 * operation should watch, the scheduler it is running on (NULL if it does not
 * know), and the allocator for algorithms that must allocate (NULL: malloc).
 * The environment of a receiver does not change while an operation connected
 * to it is alive, so algorithms may read it once at connect or start. */
#ifndef EXEC_ENV_H
#define EXEC_ENV_H

#include <stddef.h>

#include "exec/stop_token.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct exec_scheduler exec_scheduler;

/* A user-provided allocator. alloc returns NULL on failure; free receives the
 * size that was asked for. */
typedef struct exec_allocator {
	void *(*alloc)(void *ctx, size_t size, size_t align);
	void (*free)(void *ctx, void *ptr, size_t size);
	void *ctx;
} exec_allocator;

typedef struct exec_env {
	exec_stop_token stop_token;
	exec_scheduler *scheduler;
	const exec_allocator *allocator;
} exec_env;

/* The empty environment: no stop, no scheduler, malloc. */
extern const exec_env exec_env_empty;

/* Allocates with the environment's allocator (malloc when none). align may be
 * at most 4096. Returns NULL on failure. */
void *exec_env_alloc(const exec_env *env, size_t size, size_t align);
void exec_env_free(const exec_env *env, void *ptr, size_t size);

#ifdef __cplusplus
}
#endif
#endif

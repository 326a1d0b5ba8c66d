#include "exec/env.h"

#include <stdlib.h>

const exec_env exec_env_empty = {{NULL}, NULL, NULL};

void *exec_env_alloc(const exec_env *env, size_t size, size_t align)
{
	if (env && env->allocator)
		return env->allocator->alloc(env->allocator->ctx, size, align);
	if (align <= _Alignof(max_align_t))
		return malloc(size ? size : 1);
	void *p = NULL;
	return posix_memalign(&p, align, size ? size : 1) == 0 ? p : NULL;
}

void exec_env_free(const exec_env *env, void *ptr, size_t size)
{
	if (env && env->allocator)
		env->allocator->free(env->allocator->ctx, ptr, size);
	else
		free(ptr);
}

/* algorithms/just_error.h - a sender that completes at once with an error.
 *
 * exec_just_error(err): start() calls set_error(err) on the calling thread.
 * err must be a negative errno; anything else (0, positive) gives the
 * static -EINVAL sender, which completes with -EINVAL. Connect and start
 * allocate nothing. */
#ifndef EXEC_ALGORITHMS_JUST_ERROR_H
#define EXEC_ALGORITHMS_JUST_ERROR_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_just_error(int err);

#ifdef __cplusplus
}
#endif
#endif

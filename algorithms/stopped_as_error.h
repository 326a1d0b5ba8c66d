/* algorithms/stopped_as_error.h - turn the stopped channel into an error.
 *
 * exec_stopped_as_error(s, err): when s completes stopped, completes with
 * set_error(err) instead, on the same thread. Values and errors pass
 * through. err must be a negative errno, else the result is the -EINVAL
 * sender (s is consumed either way). Connect and start allocate nothing. */
#ifndef EXEC_ALGORITHMS_STOPPED_AS_ERROR_H
#define EXEC_ALGORITHMS_STOPPED_AS_ERROR_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_stopped_as_error(exec_sender *s, int err);

#ifdef __cplusplus
}
#endif
#endif

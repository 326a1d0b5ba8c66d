/* algorithms/read_env.h - senders that read the receiver's environment.
 *
 * exec_read_stop_token(): completes inside start, on the calling thread,
 * with one pointer value: the exec_stop_source * behind the receiver's stop
 * token, or NULL when the receiver's token can never stop.
 * exec_read_scheduler(): the same with the exec_scheduler * the receiver's
 * environment names, or NULL when it names none (never an error: a caller
 * that needs one checks for NULL).
 * Both are static senders: building never fails, freeing is a no-op; connect
 * and start allocate nothing. The values are read at start. */
#ifndef EXEC_ALGORITHMS_READ_ENV_H
#define EXEC_ALGORITHMS_READ_ENV_H

#include "exec/sender.h"

#ifdef __cplusplus
extern "C" {
#endif

exec_sender *exec_read_stop_token(void);
exec_sender *exec_read_scheduler(void);

#ifdef __cplusplus
}
#endif
#endif

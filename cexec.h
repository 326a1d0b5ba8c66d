/* cexec.h - the umbrella header: every public module of cexec.
 * Each module's header documents its contract; see README.md for a map. */
#ifndef CEXEC_H
#define CEXEC_H

#include "exec/adaptor.h"
#include "exec/context.h"
#include "exec/env.h"
#include "exec/error.h"
#include "exec/fanout.h"
#include "exec/fiber.h"
#include "exec/hop.h"
#include "exec/operation.h"
#include "exec/receiver.h"
#include "exec/scheduler.h"
#include "exec/sender.h"
#include "exec/stack.h"
#include "exec/stop_token.h"
#include "exec/timer_heap.h"
#include "exec/transfer.h"
#include "exec/trampoline.h"
#include "exec/value.h"

#include "algorithms/bulk.h"
#include "algorithms/continues_on.h"
#include "algorithms/counting_scope.h"
#include "algorithms/just.h"
#include "algorithms/just_error.h"
#include "algorithms/just_stopped.h"
#include "algorithms/let.h"
#include "algorithms/on.h"
#include "algorithms/read_env.h"
#include "algorithms/repeat.h"
#include "algorithms/schedule.h"
#include "algorithms/schedule_from.h"
#include "algorithms/start_detached.h"
#include "algorithms/starts_on.h"
#include "algorithms/stopped_as_error.h"
#include "algorithms/sync_wait.h"
#include "algorithms/then.h"
#include "algorithms/upon_error.h"
#include "algorithms/upon_stopped.h"
#include "algorithms/when_all.h"
#include "algorithms/when_any.h"

#include "schedulers/inline.h"
#include "schedulers/io_loop_group.h"
#include "schedulers/io_uring.h"
#include "schedulers/run_loop.h"
#include "schedulers/thread_pool.h"

#include "io/io.h"

#endif

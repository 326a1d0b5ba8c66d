#include "algorithms/schedule_from.h"

exec_sender *exec_schedule_from(exec_scheduler *sched, exec_sender *s)
{
	return exec_continues_on(s, sched);
}

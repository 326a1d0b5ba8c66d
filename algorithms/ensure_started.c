#include "algorithms/ensure_started.h"

#include "algorithms/split.h"

exec_sender *exec_ensure_started(exec_sender *s)
{
	exec_sender *sp = exec_split(s);
	if (exec_sender_build_error(sp) == 0)
		exec_split_start(sp);
	return sp;
}

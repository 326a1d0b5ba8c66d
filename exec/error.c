#include "exec/error.h"

#include <errno.h>
#include <stddef.h>

/* One table so that name and message stay in step; it lists every code the
 * library itself produces plus the ones io_uring operations commonly return. */
static const struct {
	int code;
	const char *name;
	const char *message;
} error_table[] = {
	{0, "OK", "success"},
	{EXEC_STOPPED, "stopped", "operation stopped"},
	{-EPERM, "EPERM", "operation not permitted"},
	{-ENOENT, "ENOENT", "no such file or directory"},
	{-EINTR, "EINTR", "interrupted system call"},
	{-EIO, "EIO", "i/o error"},
	{-EBADF, "EBADF", "bad file descriptor"},
	{-EAGAIN, "EAGAIN", "resource temporarily unavailable"},
	{-ENOMEM, "ENOMEM", "not enough memory"},
	{-EACCES, "EACCES", "permission denied"},
	{-EFAULT, "EFAULT", "bad address"},
	{-EBUSY, "EBUSY", "resource busy"},
	{-EEXIST, "EEXIST", "file already exists"},
	{-ENOTDIR, "ENOTDIR", "not a directory"},
	{-EISDIR, "EISDIR", "is a directory"},
	{-EINVAL, "EINVAL", "invalid argument"},
	{-ENFILE, "ENFILE", "file table overflow"},
	{-EMFILE, "EMFILE", "too many open files"},
	{-ENOSPC, "ENOSPC", "no space left on device"},
	{-EPIPE, "EPIPE", "broken pipe"},
	{-ERANGE, "ERANGE", "result out of range"},
	{-EDEADLK, "EDEADLK", "operation would deadlock"},
	{-ENOSYS, "ENOSYS", "function not implemented"},
	{-EOVERFLOW, "EOVERFLOW", "value too large"},
	{-ENOTSOCK, "ENOTSOCK", "socket operation on non-socket"},
	{-EMSGSIZE, "EMSGSIZE", "message too long"},
	{-EOPNOTSUPP, "EOPNOTSUPP", "operation not supported"},
	{-EADDRINUSE, "EADDRINUSE", "address already in use"},
	{-EADDRNOTAVAIL, "EADDRNOTAVAIL", "address not available"},
	{-ENETUNREACH, "ENETUNREACH", "network is unreachable"},
	{-ECONNABORTED, "ECONNABORTED", "software caused connection abort"},
	{-ECONNRESET, "ECONNRESET", "connection reset by peer"},
	{-ENOBUFS, "ENOBUFS", "no buffer space available"},
	{-EISCONN, "EISCONN", "socket is already connected"},
	{-ENOTCONN, "ENOTCONN", "socket is not connected"},
	{-ETIMEDOUT, "ETIMEDOUT", "connection timed out"},
	{-ECONNREFUSED, "ECONNREFUSED", "connection refused"},
	{-EHOSTUNREACH, "EHOSTUNREACH", "host is unreachable"},
	{-EALREADY, "EALREADY", "operation already in progress"},
	{-EINPROGRESS, "EINPROGRESS", "operation in progress"},
	{-ECANCELED, "ECANCELED", "operation canceled"},
	{-ENOTSUP, "ENOTSUP", "operation not supported"},
	{-ESHUTDOWN, "ESHUTDOWN", "cannot send after transport endpoint shutdown"},
	{-EPROTO, "EPROTO", "protocol error"},
	{-E2BIG, "E2BIG", "argument list too long"},
	{-ESRCH, "ESRCH", "no such process"},
	{-ETIME, "ETIME", "timer expired"},
};

static int find(int err)
{
	for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
		if (error_table[i].code == err)
			return (int)i;
	return -1;
}

const char *exec_strerror(int err)
{
	int i = find(err);
	return i < 0 ? "unknown error" : error_table[i].message;
}

const char *exec_err_name(int err)
{
	int i = find(err);
	return i < 0 ? "UNKNOWN" : error_table[i].name;
}

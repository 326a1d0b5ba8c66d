/* exec/error.h - error codes.
 *
 * cexec reports errors as negative errno values, the convention of liburing
 * and libuv: every function returns 0 (or a count) on success and -errno on
 * failure, and the error channel carries the same int. The library never
 * relies on the global errno across an asynchronous boundary.
 *
 * "Stopped" is not an error: it is its own completion channel. Where one int
 * has to say how something ended (sync_wait's return, a task's status), the
 * positive EXEC_STOPPED stands for it. */
#ifndef EXEC_ERROR_H
#define EXEC_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Returned (positive) where an int reports "completed on the stopped channel". */
#define EXEC_STOPPED 1

/* A readable message for a negative errno (or 0, or EXEC_STOPPED). Never
 * NULL; the string is static. Unknown codes get "unknown error". */
const char *exec_strerror(int err);

/* The symbolic name ("ENOMEM", "ECANCELED", "stopped", ...). Never NULL. */
const char *exec_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif

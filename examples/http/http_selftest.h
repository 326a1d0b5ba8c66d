/* examples/http/http_selftest.h - a loopback client that checks a running
 * http_server's answers (the server's --self-test mode).
 *
 * Plain blocking sockets with receive timeouts, on purpose independent of
 * cexec: the server is checked by something that does not share its code.
 * Every case is bounded (5 s receive timeout per read). */
#ifndef CEXEC_EXAMPLES_HTTP_SELFTEST_H
#define CEXEC_EXAMPLES_HTTP_SELFTEST_H

/* Runs every check against 127.0.0.1:port. idle_timeout_ms and
 * request_timeout_ms are the server's (the timeout cases wait for them;
 * the idle one should be several times the request one, so that a
 * request timed by the idle deadline shows). Prints one line per case;
 * returns the number of failed cases (0: all passed). */
int http_selftest_run(int port, int idle_timeout_ms, int request_timeout_ms);

#endif

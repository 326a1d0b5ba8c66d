/* tests for io/io.c: 10,000 loopback connections open at once on one
 * loop, each echoing once (the server here, the clients in a forked
 * child), on both backends. io_conn_test runs the same with 1,000. */
/* CEXEC_TEST_LABELS: long */
/* CEXEC_TEST_TIMEOUT: 600 */
#include "io_echo_many.h"

static void ten_thousand_connections_echo_once(void **state)
{
	(void)state;
	echo_many(10000);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(ten_thousand_connections_echo_once),
};

TEST_MAIN_BOTH_BACKENDS(tests)

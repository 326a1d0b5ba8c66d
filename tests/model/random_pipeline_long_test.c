/* tests/model/random_pipeline_long_test.c - the long run of
 * random_pipeline_test.c: 500,000 trees (sanitizer builds fewer, see
 * MODEL_SCALE there), from another first seed than the default run.
 * CEXEC_MODEL_SEED / CEXEC_MODEL_COUNT still override. */
/* CEXEC_TEST_LABELS: long */
/* CEXEC_TEST_TIMEOUT: 1800 */
#define MODEL_DEFAULT_COUNT 500000
#define MODEL_DEFAULT_SEED 7700000001u
#include "model/random_pipeline_test.c"

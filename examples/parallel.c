/* examples/parallel.c - CPU-bound work on the thread pool: a Mandelbrot image.
 *
 *     schedule(pool) | bulk(height, render_row) | then(checksum)
 *
 * The pipeline hops onto the pool, bulk splits the rows across its workers
 * (idle workers steal chunks), and then runs once after the last row, on a
 * worker, to sum the image. The same pipeline runs on a pool of one worker
 * and on a pool of --workers workers (default: the online CPUs); the two
 * images must be identical, and the program prints the speedup. With
 * --out FILE it writes the image as a binary PGM.
 *
 * Usage: parallel [--width W] [--height H] [--max-iter N] [--workers N]
 *                 [--out FILE]
 * Exit status 0 when both runs produced the same image. */
/* CEXEC_TEST_ARGS: --width 160 --height 100 --max-iter 200 --workers 3 */
/* CEXEC_TEST_LABELS: tsan */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cexec.h"

typedef struct image {
	int width, height, max_iter;
	unsigned char *pixels; /* width * height grey levels */
} image;

/* One row: each row writes only its own pixels, so rows need no locking. */
static int render_row(void *ctx, size_t y, const exec_value *values, size_t count)
{
	(void)values, (void)count;
	image *im = ctx;
	double ci = -1.2 + 2.4 * (double)y / (double)im->height;
	unsigned char *row = im->pixels + y * (size_t)im->width;
	for (int x = 0; x < im->width; x++) {
		double cr = -2.2 + 3.2 * (double)x / (double)im->width;
		double zr = 0, zi = 0;
		int it = 0;
		while (it < im->max_iter && zr * zr + zi * zi <= 4.0) {
			double t = zr * zr - zi * zi + cr;
			zi = 2 * zr * zi + ci;
			zr = t;
			it++;
		}
		row[x] = it == im->max_iter ? 0 : (unsigned char)(255 - (it * 255) / im->max_iter);
	}
	return 0;
}

/* Runs after every row, once: the sum of the pixels, as the value. */
static int checksum(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	(void)in, (void)n;
	image *im = ctx;
	uint64_t sum = 0;
	for (size_t i = 0; i < (size_t)im->width * (size_t)im->height; i++)
		sum += im->pixels[i];
	out[0] = exec_value_i64((int64_t)sum);
	return 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Renders im on a fresh pool of `workers`; returns the seconds it took, or
 * a negative value on error. *sum gets the checksum computed by then. */
static double render(image *im, unsigned workers, int64_t *sum)
{
	exec_thread_pool *pool;
	int err = exec_thread_pool_create(&pool, workers);
	if (err) {
		fprintf(stderr, "parallel: thread pool: %s\n", exec_strerror(err));
		return -1;
	}
	memset(im->pixels, 0xAA, (size_t)im->width * (size_t)im->height);
	exec_sender *s = exec_then(exec_bulk(exec_schedule(exec_thread_pool_scheduler(pool)),
					     (size_t)im->height, render_row, im),
				   checksum, im);
	exec_result r;
	double t0 = now_s();
	err = exec_sync_wait(s, &r);
	double t = now_s() - t0;
	exec_sender_free(s);
	exec_thread_pool_destroy(pool);
	if (err) {
		fprintf(stderr, "parallel: render: %s\n", exec_strerror(err));
		return -1;
	}
	*sum = exec_value_as_i64(&r.values[0]);
	return t;
}

static int write_pgm(const char *path, const image *im)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	fprintf(f, "P5\n%d %d\n255\n", im->width, im->height);
	size_t n = (size_t)im->width * (size_t)im->height;
	int err = fwrite(im->pixels, 1, n, f) == n ? 0 : -EIO;
	if (fclose(f) != 0 && !err)
		err = -EIO;
	return err;
}

static int arg_int(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < 1 || v > 100000) {
		fprintf(stderr, "parallel: bad number '%s'\n", s);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	image im = {1200, 800, 2000, NULL};
	unsigned workers = 0;
	const char *out = NULL;
	for (int i = 1; i < argc; i++) {
		int more = i + 1 < argc;
		if (!strcmp(argv[i], "--width") && more)
			im.width = arg_int(argv[++i]);
		else if (!strcmp(argv[i], "--height") && more)
			im.height = arg_int(argv[++i]);
		else if (!strcmp(argv[i], "--max-iter") && more)
			im.max_iter = arg_int(argv[++i]);
		else if (!strcmp(argv[i], "--workers") && more)
			workers = (unsigned)arg_int(argv[++i]);
		else if (!strcmp(argv[i], "--out") && more)
			out = argv[++i];
		else {
			fprintf(stderr,
				"usage: %s [--width W] [--height H] [--max-iter N] "
				"[--workers N] [--out FILE]\n",
				argv[0]);
			return 2;
		}
	}
	if (workers == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		workers = c > 0 ? (unsigned)c : 1u;
	}
	size_t n = (size_t)im.width * (size_t)im.height;
	unsigned char *reference = malloc(n);
	im.pixels = malloc(n);
	if (!reference || !im.pixels) {
		fprintf(stderr, "parallel: out of memory\n");
		return 1;
	}
	int64_t sum1, sumn;
	double t1 = render(&im, 1, &sum1);
	if (t1 < 0)
		return 1;
	memcpy(reference, im.pixels, n);
	double tn = render(&im, workers, &sumn);
	if (tn < 0)
		return 1;
	int same = memcmp(reference, im.pixels, n) == 0 && sum1 == sumn;
	printf("mandelbrot %dx%d, max %d iterations: 1 worker %.1f ms, %u workers %.1f ms, "
	       "speedup %.2fx; images %s (checksum %lld)\n",
	       im.width, im.height, im.max_iter, t1 * 1e3, workers, tn * 1e3, t1 / tn,
	       same ? "identical" : "DIFFER", (long long)sumn);
	int rc = same ? 0 : 1;
	if (out) {
		int err = write_pgm(out, &im);
		if (err) {
			fprintf(stderr, "parallel: %s: %s\n", out, exec_strerror(err));
			rc = 1;
		} else {
			printf("wrote %s\n", out);
		}
	}
	free(reference);
	free(im.pixels);
	return rc;
}

/* examples/file_pipeline.c - copy a file through io_uring in fixed-size
 * chunks while a thread pool computes a checksum of each chunk, with at
 * most K chunks in flight (bounded memory: K buffers, whatever the size).
 *
 *   file_pipeline [--size MiB] [--chunk KiB] [--inflight K] [--threads T]
 *                 [--input PATH] [--dir DIR] [--no-cp]
 *
 * Without --input it writes a file of --size MiB of pseudo-random bytes in
 * a fresh temporary directory (under --dir, else $TMPDIR or /tmp), copies
 * it, and removes everything at the end. K "slots" run at once under one
 * when_all; each slot owns one buffer and repeats, for chunks j, j+K, ...:
 *
 *   read_exactly(in, buf, len, off)     on the loop (io_uring)
 *     | continues_on(pool)
 *     | then(checksum)                  FNV-1a (64-bit words), on a worker
 *     | continues_on(loop)
 *     | let_value -> write_all(out, buf, len, off)
 *     | then(advance)                   next chunk of this slot
 *
 * (repeat_until over a let_value that builds the chunk's sender from the
 * slot's current chunk number, so each iteration is a fresh, small chain.)
 * Then the output is read back and compared byte for byte with the input,
 * and each chunk's checksum is recomputed and compared with the pool's.
 * Prints MB/s of the pipeline next to `cp` copying the same file (both
 * from the page cache; the pipeline also checksums). Exit status 0 only
 * when the copy and every checksum match. */
/* CEXEC_TEST_ARGS: --size 4 --chunk 64 --inflight 4 */
/* CEXEC_TEST_LABELS: tsan */
#include <cexec.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* FNV-1a over 64-bit words (then the tail bytes): a checksum cheap enough
 * that the copy, not the hash, should set the pace. */
static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, sizeof w);
		h ^= w;
		h *= 1099511628211ull;
	}
	for (; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

struct copy {
	exec_io_loop *loop;
	exec_scheduler *pool;
	int in, out;
	uint64_t size;
	size_t chunk;
	uint64_t nchunks;
	unsigned k;
	uint64_t *sums;      /* per chunk, written on the pool */
	AO_t inflight, max_inflight;
};

struct slot {
	struct copy *cp;
	unsigned char *buf;
	uint64_t index; /* the chunk this slot works on */
	size_t len;
};

static int checksum(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	struct slot *s = ctx;
	(void)in;
	(void)n;
	(void)out;
	s->cp->sums[s->index] = fnv1a(s->buf, s->len);
	return 0;
}

static exec_sender *write_chunk(void *ctx, const exec_value *v, size_t n)
{
	struct slot *s = ctx;
	(void)v;
	(void)n;
	return exec_io_write_all(s->cp->loop, s->cp->out, s->buf, s->len,
				 (int64_t)(s->index * s->cp->chunk));
}

static int advance(void *ctx, const exec_value *in, size_t n, exec_value *out)
{
	struct slot *s = ctx;
	(void)in;
	(void)n;
	(void)out;
	AO_fetch_and_sub1(&s->cp->inflight);
	s->index += s->cp->k;
	return 0;
}

/* The sender for the slot's current chunk (or nothing when it is done). */
static exec_sender *chunk_sender(void *ctx, const exec_value *v, size_t n)
{
	struct slot *s = ctx;
	struct copy *cp = s->cp;
	(void)v;
	(void)n;
	if (s->index >= cp->nchunks)
		return exec_just_void();
	uint64_t off = s->index * cp->chunk;
	s->len = (size_t)(cp->size - off < cp->chunk ? cp->size - off : cp->chunk);
	AO_t now = AO_fetch_and_add1(&cp->inflight) + 1;
	if (now > AO_load(&cp->max_inflight))
		AO_store(&cp->max_inflight, now); /* the loop thread only */
	exec_sender *c = exec_io_read_exactly(cp->loop, cp->in, s->buf, s->len, (int64_t)off);
	c = exec_continues_on(c, cp->pool);
	c = exec_then(c, checksum, s);
	c = exec_continues_on(c, exec_io_loop_scheduler(cp->loop));
	c = exec_let_value(c, write_chunk, s);
	return exec_then(c, advance, s);
}

static bool slot_done(void *ctx, const exec_value *v, size_t n)
{
	struct slot *s = ctx;
	(void)v;
	(void)n;
	return s->index >= s->cp->nchunks;
}

/* ---- helpers --------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int make_input(const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	static uint64_t block[8192];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (uint64_t done = 0; done < size;) {
		for (size_t i = 0; i < sizeof block / sizeof block[0]; i++) {
			x ^= x << 13; /* xorshift64 */
			x ^= x >> 7;
			x ^= x << 17;
			block[i] = x;
		}
		size_t n = size - done < sizeof block ? (size_t)(size - done) : sizeof block;
		if (write(fd, block, n) != (ssize_t)n) {
			close(fd);
			return -EIO;
		}
		done += n;
	}
	close(fd);
	return 0;
}

/* Byte-for-byte comparison, and the per-chunk checksums of b. */
static int verify(const char *a, const char *b, const struct copy *cp)
{
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	int rc = 0;
	unsigned char *x = malloc(cp->chunk), *y = malloc(cp->chunk);
	struct stat st;
	if (fa < 0 || fb < 0 || !x || !y || fstat(fb, &st) < 0) {
		rc = -EIO;
		goto out;
	}
	if ((uint64_t)st.st_size != cp->size) {
		printf("  output is %lld bytes, input %llu\n", (long long)st.st_size,
		       (unsigned long long)cp->size);
		rc = -EIO;
		goto out;
	}
	for (uint64_t i = 0; i < cp->nchunks; i++) {
		size_t len = (size_t)(cp->size - i * cp->chunk < cp->chunk
					      ? cp->size - i * cp->chunk
					      : cp->chunk);
		if (pread(fa, x, len, (off_t)(i * cp->chunk)) != (ssize_t)len ||
		    pread(fb, y, len, (off_t)(i * cp->chunk)) != (ssize_t)len) {
			rc = -EIO;
			break;
		}
		if (memcmp(x, y, len) != 0) {
			printf("  chunk %llu differs\n", (unsigned long long)i);
			rc = -EIO;
			break;
		}
		if (fnv1a(y, len) != cp->sums[i]) {
			printf("  chunk %llu: checksum from the pool is wrong\n",
			       (unsigned long long)i);
			rc = -EIO;
			break;
		}
	}
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(x);
	free(y);
	return rc;
}

/* Seconds `cp src dst` took, or a negative value when it failed. */
static double time_cp(const char *src, const char *dst)
{
	char *argv[] = {"cp", (char *)src, (char *)dst, NULL};
	double t0 = now_s();
	pid_t pid;
	if (posix_spawnp(&pid, "cp", NULL, NULL, argv, environ) != 0)
		return -1;
	int ws;
	if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		return -1;
	return now_s() - t0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"size", required_argument, NULL, 's'},
		{"chunk", required_argument, NULL, 'c'},
		{"inflight", required_argument, NULL, 'k'},
		{"threads", required_argument, NULL, 't'},
		{"input", required_argument, NULL, 'i'},
		{"dir", required_argument, NULL, 'd'},
		{"no-cp", no_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	long size_mb = 64, chunk_kb = 256, k = 4, threads = 2;
	const char *input = NULL, *dir = getenv("TMPDIR");
	bool run_cp = true;
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': size_mb = strtol(optarg, NULL, 10); break;
		case 'c': chunk_kb = strtol(optarg, NULL, 10); break;
		case 'k': k = strtol(optarg, NULL, 10); break;
		case 't': threads = strtol(optarg, NULL, 10); break;
		case 'i': input = optarg; break;
		case 'd': dir = optarg; break;
		case 'n': run_cp = false; break;
		default:
			fprintf(stderr, "usage: file_pipeline [--size MiB] [--chunk KiB] "
					"[--inflight K] [--threads T] [--input PATH] "
					"[--dir DIR] [--no-cp]\n");
			return 2;
		}
	}
	if (size_mb < 0 || size_mb > 65536 || chunk_kb < 1 || chunk_kb > 65536 || k < 1 ||
	    k > 1024 || threads < 1 || threads > 64) {
		fprintf(stderr, "file_pipeline: bad arguments\n");
		return 2;
	}
	char tmpl[PATH_MAX], src[PATH_MAX + 16], dst[PATH_MAX + 16], dst_cp[PATH_MAX + 16];
	snprintf(tmpl, sizeof tmpl, "%s/cexec-file-pipeline.XXXXXX", dir && *dir ? dir : "/tmp");
	if (!mkdtemp(tmpl)) {
		perror("file_pipeline: mkdtemp");
		return 1;
	}
	snprintf(dst, sizeof dst, "%s/copy", tmpl);
	snprintf(dst_cp, sizeof dst_cp, "%s/copy-cp", tmpl);
	if (input) {
		snprintf(src, sizeof src, "%s", input);
	} else {
		snprintf(src, sizeof src, "%s/input", tmpl);
		int rc = make_input(src, (uint64_t)size_mb << 20);
		if (rc < 0) {
			fprintf(stderr, "file_pipeline: writing %s: %s\n", src, exec_strerror(rc));
			return 1;
		}
	}

	struct copy cp = {.chunk = (size_t)chunk_kb << 10, .k = (unsigned)k};
	exec_thread_pool *pool = NULL;
	int rc = exec_io_loop_create(&cp.loop, NULL);
	if (rc == 0)
		rc = exec_thread_pool_create(&pool, (unsigned)threads);
	struct stat st;
	cp.in = open(src, O_RDONLY | O_CLOEXEC);
	cp.out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (rc < 0 || cp.in < 0 || cp.out < 0 || fstat(cp.in, &st) < 0) {
		fprintf(stderr, "file_pipeline: setup failed\n");
		return 1;
	}
	cp.pool = exec_thread_pool_scheduler(pool);
	cp.size = (uint64_t)st.st_size;
	cp.nchunks = (cp.size + cp.chunk - 1) / cp.chunk;
	cp.sums = calloc(cp.nchunks ? cp.nchunks : 1, sizeof *cp.sums);
	struct slot *slots = calloc(cp.k, sizeof *slots);
	exec_sender **kids = calloc(cp.k, sizeof *kids);
	if (!cp.sums || !slots || !kids)
		return 1;
	for (unsigned j = 0; j < cp.k; j++) {
		slots[j] = (struct slot){.cp = &cp, .index = j, .buf = malloc(cp.chunk)};
		if (!slots[j].buf)
			return 1;
		kids[j] = exec_repeat_until(exec_let_value(exec_just_void(), chunk_sender,
							   &slots[j]),
					    slot_done, &slots[j]);
	}
	exec_sender *all = exec_when_all(kids, cp.k);
	double t0 = now_s();
	rc = exec_io_loop_sync_wait(cp.loop, all, NULL);
	double dt = now_s() - t0;
	exec_sender_free(all);
	close(cp.out);
	close(cp.in);
	int status = 1;
	double mb = (double)cp.size / 1e6;
	if (rc != 0) {
		printf("pipeline failed: %s\n", exec_strerror(rc));
	} else {
		int vr = verify(src, dst, &cp);
		printf("copied %.1f MB in %llu chunks of %zu KiB, at most %lu in flight "
		       "(K = %u), checksums on %ld pool thread%s\n",
		       mb, (unsigned long long)cp.nchunks, cp.chunk >> 10,
		       (unsigned long)AO_load(&cp.max_inflight), cp.k, threads,
		       threads == 1 ? "" : "s");
		printf("  %-28s %8.1f ms %9.1f MB/s\n", "cexec (io_uring + pool)", dt * 1e3,
		       dt > 0 ? mb / dt : 0.0);
		if (run_cp) {
			double tc = time_cp(src, dst_cp);
			if (tc >= 0)
				printf("  %-28s %8.1f ms %9.1f MB/s\n", "cp", tc * 1e3,
				       tc > 0 ? mb / tc : 0.0);
			else
				printf("  cp: not available\n");
		}
		printf("  output verified byte for byte, %llu checksums match: %s\n",
		       (unsigned long long)cp.nchunks, vr == 0 ? "yes" : "NO");
		status = vr == 0 && AO_load(&cp.max_inflight) <= cp.k ? 0 : 1;
	}
	for (unsigned j = 0; j < cp.k; j++)
		free(slots[j].buf);
	free(slots);
	free(kids);
	free(cp.sums);
	exec_thread_pool_destroy(pool);
	exec_io_loop_destroy(cp.loop);
	unlink(dst);
	unlink(dst_cp);
	if (!input)
		unlink(src);
	rmdir(tmpl);
	printf("%s\n", status == 0 ? "ok" : "FAILED");
	return status;
}

/* bench/rss.h - the process's resident bytes, for the memory rows of the
 * benchmarks. smaps_rollup (a page-table walk: exact) when the kernel has
 * it; statm otherwise, whose counters are cached per thread and can lag by
 * dozens of pages - most of the figure at 10,000 small tasks. */
#ifndef CEXEC_BENCH_RSS_H
#define CEXEC_BENCH_RSS_H

#include <stdio.h>
#include <unistd.h>

static inline double bench_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	if (f) {
		char line[256];
		long kb = -1;
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "Rss: %ld kB", &kb) == 1)
				break;
		fclose(f);
		if (kb >= 0)
			return (double)kb * 1024.0;
	}
	f = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (double)res * (double)sysconf(_SC_PAGESIZE);
}

#endif

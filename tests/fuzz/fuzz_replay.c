/* tests/fuzz/fuzz_replay.c - runs a libFuzzer entry point over files and
 * directories of inputs without libFuzzer, so the seed corpus (and every
 * crash turned regression input) is checked by the default test run with
 * any compiler, sanitizers included when the build has them.
 *
 * usage: fuzz_replay PATH... ; exits 1 when no input was found, so a
 * missing corpus cannot pass silently. A failing input aborts. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (1u << 20)

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	static uint8_t buf[REPLAY_MAX_INPUT];
	size_t n = fread(buf, 1, sizeof buf, f);
	int err = ferror(f);
	fclose(f);
	if (err) {
		perror(path);
		return -1;
	}
	/* A copy of exactly n bytes, so ASan sees reads past the input. */
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy)
		return -1;
	memcpy(copy, buf, n);
	fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0, failed = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			failed = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed |= run_file(argv[i]) != 0;
			files++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d) {
			perror(argv[i]);
			failed = 1;
			continue;
		}
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
			failed |= run_file(path) != 0;
			files++;
		}
		closedir(d);
	}
	printf("%d inputs replayed\n", files);
	if (files == 0) {
		fprintf(stderr, "no inputs found\n");
		return 1;
	}
	return failed;
}

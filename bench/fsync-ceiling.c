/*
 * fsync-ceiling — how many durable "create, write 4 KiB, fsync, rename,
 * fsync directory" cycles per second this disk allows, with W concurrent
 * writers (processes).  This is the physical ceiling for any durable MTA on
 * the machine: a message needs at least one such cycle in the queue and one
 * in the mailbox.  Used by bench/run-all; never part of make check.
 *
 *   fsync-ceiling DIR WRITERS SECONDS   → prints "cycles_per_second=N"
 *
 * Trusts its arguments (a benchmark tool run by the developer).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cycle(const char *dir, int dirfd, int writer, long n, const char *data,
    size_t len)
{
	char tmp[4096], final[4096];
	int fd;

	snprintf(tmp, sizeof tmp, "%s/tmp.%d.%ld", dir, writer, n);
	snprintf(final, sizeof final, "%s/msg.%d.%ld", dir, writer, n);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	if (rename(tmp, final) != 0 || fsync(dirfd) != 0)
		return -1;
	return 0;
}

static long
writer_loop(const char *dir, int writer, double seconds)
{
	char data[4096];
	double end = now() + seconds;
	long n = 0;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dirfd < 0)
		return -1;
	memset(data, 'x', sizeof data);
	while (now() < end) {
		if (cycle(dir, dirfd, writer, n, data, sizeof data) != 0)
			return -1;
		n++;
	}
	close(dirfd);
	return n;
}

int
main(int argc, char **argv)
{
	int writers, i, status, pipefd[2];
	double seconds, start;
	long total = 0, count;

	if (argc != 4) {
		fprintf(stderr, "usage: fsync-ceiling DIR WRITERS SECONDS\n");
		return 64;
	}
	writers = atoi(argv[2]);
	seconds = atof(argv[3]);
	if (writers < 1 || writers > 256 || seconds <= 0) {
		fprintf(stderr, "fsync-ceiling: bad arguments\n");
		return 64;
	}
	if (pipe(pipefd) != 0)
		return 71;
	start = now();
	for (i = 0; i < writers; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 71;
		if (pid == 0) {
			count = writer_loop(argv[1], i, seconds);
			if (write(pipefd[1], &count, sizeof count) != sizeof count)
				_exit(1);
			_exit(count < 0);
		}
	}
	close(pipefd[1]);
	for (i = 0; i < writers; i++) {
		if (read(pipefd[0], &count, sizeof count) != sizeof count ||
		    count < 0) {
			fprintf(stderr, "fsync-ceiling: a writer failed\n");
			return 1;
		}
		total += count;
	}
	while (wait(&status) > 0)
		;
	printf("cycles_per_second=%.0f\n", (double)total / (now() - start));
	return 0;
}

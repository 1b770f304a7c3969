/*
 * test_local_quota_shim.c — an LD_PRELOAD library for
 * tests/e2e/test_local_quota: write(2) behaves as if the user's disk
 * quota were QUOTA_LIMIT octets for files under QUOTA_DIR (a real quota
 * needs CONFIG_QUOTA or tmpfs quotas, which test machines often lack).
 * A write that would make such a file larger than QUOTA_LIMIT writes what
 * still fits and returns that count (a short write, as the kernel does);
 * the next one fails with EDQUOT.  Files elsewhere are not touched.
 * With NO_TMPFILE=PATH, open(O_TMPFILE) fails with EOPNOTSUPP, as on a
 * file system without unnamed temporary files, and PATH is created.
 * With FAIL_DIR_FSYNC=DIR, fsync(2) of the directory DIR fails with EIO,
 * as on a failing disk.
 * Test code only: never built into posthorn.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

ssize_t write(int fd, const void *p, size_t n);
int fsync(int fd);
int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int dfd, const char *path, int flags, ...);
int openat64(int dfd, const char *path, int flags, ...);

static ssize_t (*real_write)(int, const void *, size_t);

/* Is fd a file under QUOTA_DIR?  Its size in *size. */
static int
watched(int fd, off_t *size)
{
	const char *dir = getenv("QUOTA_DIR");
	char link[64], path[4096];
	struct stat st;
	ssize_t n;
	size_t dl;

	if (dir == NULL || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	dl = strlen(dir);
	if (strncmp(path, dir, dl) != 0 || path[dl] != '/')
		return 0;
	*size = st.st_size;
	return 1;
}

ssize_t
write(int fd, const void *p, size_t n)
{
	const char *lim = getenv("QUOTA_LIMIT");
	off_t size, limit;

	if (real_write == NULL)
		real_write = (ssize_t (*)(int, const void *, size_t))
		    dlsym(RTLD_NEXT, "write");
	if (lim != NULL && n > 0 && watched(fd, &size)) {
		limit = (off_t)strtoll(lim, NULL, 10);
		if (size >= limit) {
			errno = EDQUOT;
			return -1;
		}
		if ((off_t)n > limit - size)
			n = (size_t)(limit - size);
	}
	return real_write(fd, p, n);
}

static int next_open(const char *name, const char *path, int flags,
    mode_t mode);

/* NO_TMPFILE names a file created when a refusal happened, so the test
 * knows the fallback really ran. */
static int
refused(int flags)
{
	const char *mark = getenv("NO_TMPFILE");
	int fd;

	if ((flags & O_TMPFILE) != O_TMPFILE || mark == NULL)
		return 0;
	fd = next_open("open", mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	errno = EOPNOTSUPP;
	return 1;
}

static int
next_openat(const char *name, int dfd, const char *path, int flags,
    mode_t mode)
{
	int (*real)(int, const char *, int, ...) =
	    (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, name);

	return real(dfd, path, flags, mode);
}

static int
next_open(const char *name, const char *path, int flags, mode_t mode)
{
	int (*real)(const char *, int, ...) =
	    (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, name);

	return real(path, flags, mode);
}

#define MODE_ARG(flags, mode) do {					\
	va_list ap;							\
	va_start(ap, flags);						\
	mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;	\
	va_end(ap);							\
} while (0)

int
open(const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return refused(flags) ? -1 : next_open("open", path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return refused(flags) ? -1 : next_open("open64", path, flags, mode);
}

int
openat(int dfd, const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return refused(flags) ? -1 :
	    next_openat("openat", dfd, path, flags, mode);
}

int
openat64(int dfd, const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return refused(flags) ? -1 :
	    next_openat("openat64", dfd, path, flags, mode);
}

int
fsync(int fd)
{
	static int (*real_fsync)(int);
	const char *dir = getenv("FAIL_DIR_FSYNC");
	char link[64], path[4096];
	struct stat st;
	ssize_t n;

	if (real_fsync == NULL)
		real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (dir != NULL && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		if (n > 0) {
			path[n] = '\0';
			if (strcmp(path, dir) == 0) {
				errno = EIO;
				return -1;
			}
		}
	}
	return real_fsync(fd);
}

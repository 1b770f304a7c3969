/*
 * test_run_swap_shim.c — an LD_PRELOAD library for
 * tests/e2e/test_run_symlink_race: it plays the attacker who, between two
 * system calls of posthorn-run (root), puts a symbolic link where
 * posthorn-run has just made something.
 *
 *   SWAP_SOCKET=P SWAP_FILE=F  right after bind(2) creates the unix
 *       socket P, P is renamed to P.moved and a link P -> F put in its
 *       place (a chmod(P) afterwards would change F);
 *   SWAP_DIR=D SWAP_TARGET=T  right after mkdir(2) makes D, D is removed
 *       and a link D -> T put in its place (a chown(D) afterwards would
 *       change T).
 *
 * Test code only: never built into posthorn.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

int bind(int fd, const struct sockaddr *sa, socklen_t len);
int mkdir(const char *path, mode_t mode);

int
bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	int (*real)(int, const struct sockaddr *, socklen_t) =
	    (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT,
	    "bind");
	const char *p = getenv("SWAP_SOCKET"), *f = getenv("SWAP_FILE");
	const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
	char moved[sizeof(sun->sun_path) + 8];
	int rc = real(fd, sa, len);

	if (rc == 0 && p != NULL && f != NULL && sa->sa_family == AF_UNIX &&
	    strcmp(sun->sun_path, p) == 0) {
		snprintf(moved, sizeof(moved), "%s.moved", p);
		if (rename(p, moved) != 0 || symlink(f, p) != 0)
			abort();
	}
	return rc;
}

int
mkdir(const char *path, mode_t mode)
{
	int (*real)(const char *, mode_t) =
	    (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
	const char *d = getenv("SWAP_DIR"), *t = getenv("SWAP_TARGET");
	int rc = real(path, mode);

	if (rc == 0 && d != NULL && t != NULL && strcmp(path, d) == 0) {
		if (rmdir(path) != 0 || symlink(t, path) != 0)
			abort();
	}
	return rc;
}

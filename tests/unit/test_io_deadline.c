/*
 * test_io_deadline.c — io_write_all() keeps its deadline on every kind of
 * descriptor a writer meets: blocking and non-blocking pipes (a pipe
 * program that never reads, checkpassword), blocking and non-blocking
 * unix and TCP sockets, and a pipe that already holds data.  A peer that
 * never reads must make the call fail with ETIMEDOUT near its deadline,
 * never block it; a peer that reads gets every byte, in order.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"

#define BIG	(1024 * 1024)

static long
elapsed_ms(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 +
	    (b.tv_nsec - a->tv_nsec) / 1000000;
}

static char *
pattern(size_t n)
{
	char *p = malloc(n);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + i % 23);
	return p;
}

/* n octets to fd, nobody reading the other end: ETIMEDOUT after about
 * timeout_ms (the test case's own timeout catches a call that blocks). */
static void
assert_times_out(int fd, size_t n, int timeout_ms)
{
	struct timespec t0;
	char *p = pattern(n);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	ck_assert_int_eq(io_write_all(fd, p, n, timeout_ms), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_ge(elapsed_ms(&t0), timeout_ms - 10);
	ck_assert_int_lt(elapsed_ms(&t0), timeout_ms + 1500);
	free(p);
}

START_TEST(test_blocking_pipe_never_read)
{
	int p[2];

	/* more than the pipe holds, in one call */
	ck_assert_int_eq(pipe(p), 0);
	alarm(5);
	assert_times_out(p[1], BIG, 200);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_blocking_pipe_partly_full)
{
	char *fill = pattern(60000);
	int p[2];

	/* room for less than what comes next */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(io_write_all(p[1], fill, 60000, 100), 0);
	alarm(5);
	assert_times_out(p[1], 16384, 200);
	free(fill);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_nonblocking_pipe_never_read)
{
	int p[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	alarm(5);
	assert_times_out(p[1], BIG, 200);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_blocking_unix_socket_never_read)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	alarm(5);
	assert_times_out(sv[0], 8 * BIG, 200);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_blocking_tcp_never_read)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int l, c, s;

	l = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(l, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	s = accept(l, NULL, NULL);
	ck_assert_int_ge(s, 0);
	alarm(5);
	assert_times_out(c, 32 * BIG, 300);
	close(s);
	close(c);
	close(l);
}
END_TEST

/* A slow reader still gets everything, in order, from a blocking pipe
 * and from a non-blocking one. */
static void
check_slow_reader(int nonblock)
{
	char *p = pattern(BIG), *got = malloc(BIG);
	size_t have = 0;
	pid_t pid;
	int fds[2], st;

	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(pipe2(fds, nonblock ? O_NONBLOCK : 0), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		_exit(io_write_all(fds[1], p, BIG, 5000) == 0 ? 0 : 1);
	}
	close(fds[1]);
	io_set_nonblock(fds[0], 0);
	while (have < BIG) {
		ssize_t r = read(fds[0], got + have,
		    BIG - have < 3000 ? BIG - have : 3000);

		if (r == -1 && errno == EINTR)
			continue;
		ck_assert_int_gt(r, 0);
		have += (size_t)r;
		if (have % 65536 < 3000)
			usleep(1000);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert(memcmp(p, got, BIG) == 0);
	close(fds[0]);
	free(p);
	free(got);
}

START_TEST(test_pipe_slow_reader)
{
	check_slow_reader(0);
	check_slow_reader(1);
}
END_TEST

static Suite *
io_deadline_suite(void)
{
	Suite *s = suite_create("io_deadline");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_blocking_pipe_never_read);
	tcase_add_test(tc, test_blocking_pipe_partly_full);
	tcase_add_test(tc, test_nonblocking_pipe_never_read);
	tcase_add_test(tc, test_blocking_unix_socket_never_read);
	tcase_add_test(tc, test_blocking_tcp_never_read);
	tcase_add_test(tc, test_pipe_slow_reader);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(io_deadline_suite());
	int nf;

	signal(SIGPIPE, SIG_DFL);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

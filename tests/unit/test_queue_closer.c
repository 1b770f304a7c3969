/*
 * test_queue_closer.c — queue/closer.c: a descriptor handed to the closer
 * thread is closed (exactly once, the file's last reference released),
 * and without the thread closer_close() closes at once.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/closer.h"

static int
is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* Not started: closed inline, before closer_close returns. */
START_TEST(inline_without_thread)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	closer_close(p[0]);
	ck_assert(!is_open(p[0]));
	closer_close(-1);	/* nothing, no crash */
	close(p[1]);
}
END_TEST

/* Started: the thread closes them; the read end of a pipe whose every
 * reader is gone makes write() fail with EPIPE, which shows the close
 * really released the file (no copy kept). */
START_TEST(thread_closes)
{
	int p[2], i, done = 0;
	struct timespec ts = { 0, 1000000 };

	signal(SIGPIPE, SIG_IGN);
	ck_assert_int_eq(closer_start(), 0);
	ck_assert_int_eq(closer_start(), 0);	/* once is enough */
	ck_assert_int_eq(pipe(p), 0);
	closer_close(p[0]);
	for (i = 0; i < 5000 && !done; i++) {
		if (write(p[1], "x", 1) == -1 && errno == EPIPE)
			done = 1;
		else
			nanosleep(&ts, NULL);
	}
	ck_assert_msg(done, "the read end is still open");
	close(p[1]);
	/* many at once: each closed (the pipe may fill: then inline) */
	for (i = 0; i < 20000; i++) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		ck_assert_int_ge(fd, 0);
		closer_close(fd);
	}
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("queue_closer");
	TCase *t = tcase_create("closer");

	tcase_add_test(t, inline_without_thread);
	tcase_add_test(t, thread_closes);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

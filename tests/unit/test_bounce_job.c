/*
 * test_bounce_job.c — unit tests for bounce/job.c's privilege rule:
 * started as root, posthorn-bounce becomes "nobody" for good when nobody
 * can still reach the queue socket, and keeps root (saying why) when it
 * cannot; not started as root, nothing changes.  Each test runs in
 * libcheck's forked child, so giving up root there is harmless.
 */
#include <check.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bounce/job.h"

static char dir[64];
static char sock[96];

/* A listening unix socket in a fresh directory of mode dmode, the socket
 * file of mode smode. */
static int
make_socket(mode_t dmode, mode_t smode)
{
	struct sockaddr_un sun;
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/ph-bjob.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, dmode), 0);
	snprintf(sock, sizeof(sock), "%s/queue.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(chmod(sock, smode), 0);
	return fd;
}

static void
cleanup(int fd)
{
	close(fd);
	unlink(sock);
	rmdir(dir);
}

START_TEST(test_root_becomes_nobody)
{
	struct passwd *pw = getpwnam(BOUNCE_ROOT_USER);
	const char *why = NULL;
	int fd;

	if (geteuid() != 0 || pw == NULL)
		return;	/* covered by test_not_root below */
	fd = make_socket(0755, 0666);
	/* nobody's own files, so that nobody can clean them up */
	ck_assert_int_eq(chown(dir, pw->pw_uid, pw->pw_gid), 0);
	ck_assert_int_eq(chown(sock, pw->pw_uid, pw->pw_gid), 0);
	ck_assert_int_eq(bounce_drop_root(sock, &why), 0);
	ck_assert_uint_eq(getuid(), pw->pw_uid);
	ck_assert_uint_eq(geteuid(), pw->pw_uid);
	ck_assert_uint_eq(getgid(), pw->pw_gid);
	ck_assert_int_eq(setuid(0), -1);
	ck_assert_int_eq(seteuid(0), -1);
	cleanup(fd);
	ck_assert_int_eq(access(dir, F_OK), -1);
}
END_TEST

START_TEST(test_root_kept_when_socket_closed)
{
	const char *why = NULL;
	int fd;

	if (geteuid() != 0 || getpwnam(BOUNCE_ROOT_USER) == NULL)
		return;
	fd = make_socket(0700, 0600);
	ck_assert_int_eq(bounce_drop_root(sock, &why), 1);
	ck_assert_ptr_nonnull(strstr(why, "cannot reach the queue socket"));
	ck_assert_uint_eq(geteuid(), 0);
	ck_assert_uint_eq(getuid(), 0);
	ck_assert_uint_eq(getegid(), 0);
	cleanup(fd);
}
END_TEST

START_TEST(test_not_root)
{
	const char *why = NULL;
	uid_t u = getuid(), eu = geteuid();

	if (eu == 0)
		return;
	ck_assert_int_eq(bounce_drop_root("/nonexistent/queue.sock", &why), 0);
	ck_assert_uint_eq(getuid(), u);
	ck_assert_uint_eq(geteuid(), eu);
}
END_TEST

static Suite *
job_suite(void)
{
	Suite *s = suite_create("bounce_job");
	TCase *tc = tcase_create("privileges");

	tcase_add_test(tc, test_root_becomes_nobody);
	tcase_add_test(tc, test_root_kept_when_socket_closed);
	tcase_add_test(tc, test_not_root);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(job_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

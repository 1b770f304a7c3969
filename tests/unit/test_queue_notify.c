/*
 * test_queue_notify.c — posthorn-send's service notifications
 * (queue/notify.c): which lines the spawner relays to systemd (exactly
 * the five posthorn-send sends, never MAINPID=, NOTIFYACCESS=, FDSTORE=
 * or WATCHDOG=trigger), that notify_init() takes NOTIFY_SOCKET,
 * POSTHORN_NOTIFY_FD and the watchdog out of the environment (so agents
 * do not inherit them), honours WATCHDOG_PID, and that messages reach
 * the relay descriptor or the NOTIFY_SOCKET path.  Each test runs in its
 * own process (libcheck's fork mode): notify_init() keeps state.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "queue/notify.h"

static bool
ok(const char *s)
{
	return notify_relayable(s, strlen(s));
}

START_TEST(relayable_lines)
{
	char big[NOTIFY_LINE_MAX + 2];

	ck_assert(ok("READY=1"));
	ck_assert(ok("RELOADING=1"));
	ck_assert(ok("STOPPING=1"));
	ck_assert(ok("WATCHDOG=1"));
	ck_assert(ok("STATUS=3 queued, 0 in delivery"));
	ck_assert(!ok("STATUS="));
	ck_assert(!ok("MAINPID=1"));
	ck_assert(!ok("NOTIFYACCESS=none"));
	ck_assert(!ok("WATCHDOG=trigger"));
	ck_assert(!ok("WATCHDOG_USEC=1"));
	ck_assert(!ok("FDSTORE=1"));
	ck_assert(!ok("EXTEND_TIMEOUT_USEC=99999999"));
	ck_assert(!ok("READY=11"));
	ck_assert(!ok("READY=1 "));
	ck_assert(!ok("ready=1"));
	ck_assert(!ok(""));
	ck_assert(!ok("STATUS=a\tb"));
	ck_assert(!ok("STATUS=caf\xc3\xa9"));
	/* a line is judged alone: "READY=1\nMAINPID=1" is two lines */
	ck_assert(!notify_relayable("READY=1\nMAINPID=1", 17));
	ck_assert(notify_relayable("READY=1\nMAINPID=1", 7));
	memcpy(big, "STATUS=", 7);
	memset(big + 7, 'x', sizeof(big) - 7);
	ck_assert(notify_relayable(big, NOTIFY_LINE_MAX));
	ck_assert(!notify_relayable(big, NOTIFY_LINE_MAX + 1));
}
END_TEST

START_TEST(init_relay_fd)
{
	int sv[2];
	char num[16], got[64];
	ssize_t n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	snprintf(num, sizeof(num), "%d", sv[1]);
	setenv(NOTIFY_FD_ENV, num, 1);
	setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
	setenv("WATCHDOG_USEC", "4000000", 1);
	snprintf(num, sizeof(num), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", num, 1);
	ck_assert_int_eq(notify_init(), 0);
	ck_assert_ptr_null(getenv(NOTIFY_FD_ENV));
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	ck_assert_ptr_null(getenv("WATCHDOG_USEC"));
	ck_assert_ptr_null(getenv("WATCHDOG_PID"));
	ck_assert_uint_eq(notify_watchdog_usec(), 4000000);
	/* agents started later do not inherit the relay */
	ck_assert_int_eq(fcntl(sv[1], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	notify_send("READY=1", true);
	notify_send("STATUS=1 queued", false);
	n = recv(sv[0], got, sizeof(got), MSG_DONTWAIT);
	ck_assert_int_eq(n, 7);
	ck_assert_int_eq(memcmp(got, "READY=1", 7), 0);
	n = recv(sv[0], got, sizeof(got), MSG_DONTWAIT);
	ck_assert_int_eq(n, 15);
	ck_assert_int_eq(memcmp(got, "STATUS=1 queued", 15), 0);
}
END_TEST

START_TEST(init_bad_fd)
{
	setenv(NOTIFY_FD_ENV, "77777", 1);
	ck_assert_int_eq(notify_init(), -1);
	setenv(NOTIFY_FD_ENV, "1", 1);	/* 0-2 are never the relay */
	ck_assert_int_eq(notify_init(), -1);
}
END_TEST

START_TEST(watchdog_for_another_process)
{
	setenv("WATCHDOG_USEC", "4000000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	ck_assert_int_eq(notify_init(), 0);
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
	ck_assert_ptr_null(getenv("WATCHDOG_USEC"));
	ck_assert_ptr_null(getenv("WATCHDOG_PID"));
}
END_TEST

START_TEST(init_socket_path)
{
	struct sockaddr_un sun;
	char dir[] = "/tmp/test_notify.XXXXXX", got[64];
	ssize_t n;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/n.sock", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	unsetenv(NOTIFY_FD_ENV);
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	ck_assert_int_eq(notify_init(), 0);
	ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));
	notify_send("WATCHDOG=1", true);
	n = recv(fd, got, sizeof(got), MSG_DONTWAIT);
	ck_assert_int_eq(n, 10);
	ck_assert_int_eq(memcmp(got, "WATCHDOG=1", 10), 0);
	/* the spawner's relay reads NOTIFY_SOCKET itself */
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	notify_relay_send("READY=1\nSTATUS=x", true);
	n = recv(fd, got, sizeof(got), MSG_DONTWAIT);
	ck_assert_int_eq(n, 16);
	ck_assert_int_eq(memcmp(got, "READY=1\nSTATUS=x", 16), 0);
	close(fd);
	unlink(sun.sun_path);
	rmdir(dir);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("queue_notify");
	TCase *t = tcase_create("notify");
	SRunner *r;
	int failed;

	tcase_add_test(t, relayable_lines);
	tcase_add_test(t, init_relay_fd);
	tcase_add_test(t, init_bad_fd);
	tcase_add_test(t, watchdog_for_another_process);
	tcase_add_test(t, init_socket_path);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed == 0 ? 0 : 1;
}

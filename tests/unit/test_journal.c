/*
 * test_journal.c — unit tests for common/journal.c (journald's native
 * protocol, byte for byte: plain and binary fields, invalid names, a real
 * datagram to a socket of the test's own, a journal that is not there).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/journal.h"
#include "tests/unit/testutil.h"

static struct iovec
field(const char *s)
{
	struct iovec v = { (void *)s, strlen(s) };

	return v;
}

START_TEST(test_encode_plain)
{
	struct iovec iov[3] = { field("MESSAGE=event=x a=b"),
	    field("PRIORITY=6"), field("QID=") };
	struct buf b = BUF_INIT;

	ck_assert_int_eq(journal_encode(iov, 3, &b), 0);
	ck_assert_uint_eq(b.len, strlen("MESSAGE=event=x a=b\nPRIORITY=6\n"
	    "QID=\n"));
	ck_assert_mem_eq(b.data, "MESSAGE=event=x a=b\nPRIORITY=6\nQID=\n",
	    b.len);
	buf_free(&b);
}
END_TEST

START_TEST(test_encode_binary)
{
	struct iovec iov[2] = { field("A=x"), field("MESSAGE=two\nlines") };
	static const char want[] = "A=x\nMESSAGE\n"
	    "\x09\0\0\0\0\0\0\0" "two\nlines\n";
	struct buf b = BUF_INIT;

	ck_assert_int_eq(journal_encode(iov, 2, &b), 0);
	ck_assert_uint_eq(b.len, sizeof(want) - 1);
	ck_assert_mem_eq(b.data, want, b.len);
	buf_free(&b);
}
END_TEST

START_TEST(test_encode_invalid)
{
	static const char *const bad[] = { "NOEQUALS", "=value",
	    "_PID=1", "9X=y", "lower=x", "SP ACE=x", "NUL\n=x",
	    ("A23456789012345678901234567890123456789012345678901234567890"
	    "12345=x") };
	struct buf b = BUF_INIT;
	struct iovec iov[2];

	buf_append_str(&b, "kept");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		iov[0] = field("OK=1");
		iov[1] = field(bad[i]);
		ck_assert_msg(journal_encode(iov, 2, &b) == -1, "%s", bad[i]);
		ck_assert_str_eq(buf_str(&b), "kept");
	}
	/* 64 characters is the longest name journald takes */
	iov[0] = field("A234567890123456789012345678901234567890123456789012345"
	    "678901234=x");
	ck_assert_int_eq(journal_encode(iov, 1, &b), 0);
	buf_free(&b);
}
END_TEST

/* A journal of the test's own: a datagram socket bound in a new
 * directory, which journal_sendv() is pointed at. */
static int
own_journal(char *dir, char *path, size_t pathsz)
{
	struct sockaddr_un sa;
	int s;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, pathsz, "%s/socket", dir);
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	journal_socket_path = path;
	return s;
}

START_TEST(test_send)
{
	char dir[] = "/tmp/test_journal.XXXXXX", path[64], got[256];
	struct iovec iov[2] = { field("MESSAGE=hello"), field("QID=AB") };
	ssize_t n;
	int s = own_journal(dir, path, sizeof(path));

	ck_assert_int_eq(journal_sendv(iov, 2), 0);
	n = recv(s, got, sizeof(got), MSG_DONTWAIT);
	ck_assert_int_eq(n, (ssize_t)strlen("MESSAGE=hello\nQID=AB\n"));
	ck_assert_mem_eq(got, "MESSAGE=hello\nQID=AB\n", (size_t)n);
	/* an invalid field: nothing sent, the caller writes to stderr */
	iov[1] = field("_UID=0");
	ck_assert_int_eq(journal_sendv(iov, 2), -1);
	ck_assert_int_eq(recv(s, got, sizeof(got), MSG_DONTWAIT), -1);
	/* no journal listening: -1, not a hang */
	close(s);
	unlink(path);
	iov[1] = field("QID=AB");
	errno = 0;
	ck_assert_int_eq(journal_sendv(iov, 2), -1);
	ck_assert_int_ne(errno, 0);
	ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

START_TEST(test_send_full)
{
	char dir[] = "/tmp/test_journal.XXXXXX", path[64];
	struct iovec iov[1] = { field("MESSAGE=fill") };
	int s = own_journal(dir, path, sizeof(path)), sent = 0, r = 0;

	/* a journal that does not read: entries are refused, never waited
	 * for (bounded: a unix datagram queue holds a few hundred) */
	while (sent < 100000 && (r = journal_sendv(iov, 1)) == 0)
		sent++;
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(s);
	ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

static Suite *
journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_encode_plain);
	tcase_add_test(tc, test_encode_binary);
	tcase_add_test(tc, test_encode_invalid);
	tcase_add_test(tc, test_send);
	tcase_add_test(tc, test_send_full);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * test_log.c — unit tests for common/log.c: the exact stderr line format,
 * sanitising of hostile values (newlines, quotes, '=', non-ASCII) so no
 * field or line can be forged, debug filtering, die(), and the journal
 * path (JOURNAL_STREAM matching stderr) with its structured fields.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/log.h"

static int errfd = -1;
static char errpath[] = "/tmp/test_log.XXXXXX";

/* Redirect stderr to a temporary file (each test runs in its own fork). */
static void
capture(void)
{
	errfd = mkstemp(errpath);
	ck_assert_int_ge(errfd, 0);
	unlink(errpath);
	ck_assert_int_eq(dup2(errfd, STDERR_FILENO), STDERR_FILENO);
}

static void
captured(struct buf *b)
{
	char chunk[4096];
	ssize_t n;

	buf_reset(b);
	ck_assert_int_eq(lseek(errfd, 0, SEEK_SET), 0);
	while ((n = read(errfd, chunk, sizeof(chunk))) > 0)
		buf_append(b, chunk, (size_t)n);
}

START_TEST(test_format)
{
	struct buf b = BUF_INIT, want = BUF_INIT;

	unsetenv("JOURNAL_STREAM");
	capture();
	log_init("/usr/libexec/posthorn-send");
	log_msg(LOG_INFO, "sent", "qid", "0123", "to", "<a@b>", NULL);
	captured(&b);
	buf_printf(&want, "posthorn-send[%ld]: event=sent qid=0123 to=<a@b>\n",
	    (long)getpid());
	ck_assert_str_eq(buf_str(&b), buf_str(&want));
	buf_free(&b);
	buf_free(&want);
}
END_TEST

START_TEST(test_no_progname)
{
	struct buf b = BUF_INIT, want = BUF_INIT;

	unsetenv("JOURNAL_STREAM");
	capture();
	log_init(NULL);
	log_msg(LOG_INFO, "a", NULL);
	log_init("");
	log_msg(LOG_INFO, "b", NULL);
	log_init("/usr/sbin/");
	log_msg(LOG_INFO, "c", NULL);
	captured(&b);
	buf_printf(&want, "posthorn[%ld]: event=a\nposthorn[%ld]: event=b\n"
	    "posthorn[%ld]: event=c\n", (long)getpid(), (long)getpid(),
	    (long)getpid());
	ck_assert_str_eq(buf_str(&b), buf_str(&want));
	buf_free(&b);
	buf_free(&want);
}
END_TEST

START_TEST(test_hostile)
{
	struct buf b = BUF_INIT, want = BUF_INIT;
	struct logline l;

	unsetenv("JOURNAL_STREAM");
	capture();
	log_init("t");
	log_begin(&l, LOG_WARNING, "bad");
	log_add(&l, "helo", "x\r\nt[1]: event=forged");
	log_add(&l, "q", "say \"hi\" \\ now");
	log_add(&l, "e", "");
	log_addn(&l, "bin", "a\0\xff", 3);
	log_add(&l, "Bad Key=", "v");
	log_addf(&l, "n", "%d/%s", 5, "x");
	log_end(&l);
	captured(&b);
	/* CR LF escaped; '=' and spaces quote the value */
	buf_printf(&want, "t[%ld]: event=bad "
	    "helo=\"x\\x0D\\x0At[1]: event=forged\" "
	    "q=\"say \\\"hi\\\" \\\\ now\" e=\"\" bin=a\\x00\\xFF "
	    "bad_key_=v n=5/x\n", (long)getpid());
	ck_assert_str_eq(buf_str(&b), buf_str(&want));
	/* exactly one line */
	ck_assert_ptr_eq(strchr(b.data, '\n'), b.data + b.len - 1);
	buf_free(&b);
	buf_free(&want);
}
END_TEST

START_TEST(test_long_value)
{
	struct buf b = BUF_INIT, v = BUF_INIT;
	size_t i;

	unsetenv("JOURNAL_STREAM");
	capture();
	log_init("t");
	for (i = 0; i < 100000; i++)
		buf_append_char(&v, 'x');
	log_msg(LOG_INFO, "big", "v", v.data, NULL);
	captured(&b);
	ck_assert_uint_lt(b.len, 1100);
	ck_assert_uint_gt(b.len, 1024);
	buf_free(&b);
	buf_free(&v);
}
END_TEST

START_TEST(test_debug_filter)
{
	struct buf b = BUF_INIT;

	unsetenv("JOURNAL_STREAM");
	capture();
	log_init("t");
	log_msg(LOG_DEBUG, "hidden", NULL);
	captured(&b);
	ck_assert_uint_eq(b.len, 0);
	log_set_verbose(1);
	log_msg(LOG_DEBUG, "shown", NULL);
	captured(&b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "event=shown\n"));
	buf_free(&b);
}
END_TEST

START_TEST(test_die)
{
	struct buf b = BUF_INIT;
	pid_t pid;
	int st;

	unsetenv("JOURNAL_STREAM");
	capture();
	log_init("t");
	pid = fork();
	if (pid == 0)
		die(78, "config", "posthorn.conf:3: foo: unknown key");
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 78);
	captured(&b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), ": event=fatal "
	    "reason=config detail=\"posthorn.conf:3: foo: unknown key\"\n"));
	buf_free(&b);
}
END_TEST

START_TEST(test_sanitize_text)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(sanitize_text(&b, "ok\r\n\x80z", 6, 100), 0);
	ck_assert_str_eq(buf_str(&b), "ok???z");
	ck_assert_int_eq(sanitize_text(&b, "abcdef", 6, 3), 0);
	ck_assert_str_eq(buf_str(&b), "ok???zabc");
	buf_free(&b);
}
END_TEST

static struct buf jseen = BUF_INIT;
static int jresult;

static int
fake_journal(const struct iovec *iov, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		buf_append(&jseen, iov[i].iov_base, iov[i].iov_len);
		buf_append_char(&jseen, '|');
	}
	return jresult;
}

static void
set_journal_stream(int fd)
{
	struct stat st;
	char v[64];

	ck_assert_int_eq(fstat(fd, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
}

START_TEST(test_journal)
{
	struct buf b = BUF_INIT;

	capture();
	set_journal_stream(STDERR_FILENO);
	log_journal_send = fake_journal;
	jresult = 0;
	log_init("posthorn-smtpd");
	log_msg(LOG_WARNING, "reject", "client", "192.0.2.1",
	    "reason", "bad\nthing", "9x", "y", "_pid", "1", "priority", "0",
	    NULL);
	ck_assert_str_eq(buf_str(&jseen),
	    "MESSAGE=event=reject client=192.0.2.1 reason=bad\\x0Athing 9x=y "
	    "_pid=1 priority=0|"
	    "PRIORITY=4|SYSLOG_IDENTIFIER=posthorn-smtpd|EVENT=reject|"
	    "CLIENT=192.0.2.1|REASON=bad\\x0Athing|F9X=y|F_PID=1|"
	    "FPRIORITY=0|");
	captured(&b);
	ck_assert_uint_eq(b.len, 0);
	/* the journal refuses: the line goes to stderr instead */
	jresult = -1;
	log_msg(LOG_INFO, "x", NULL);
	captured(&b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "]: event=x\n"));
	buf_free(&b);
	buf_free(&jseen);
}
END_TEST

START_TEST(test_journal_mismatch)
{
	struct buf b = BUF_INIT;

	capture();
	setenv("JOURNAL_STREAM", "1:2", 1);
	log_journal_send = fake_journal;
	jresult = 0;
	log_init("t");
	log_msg(LOG_INFO, "plain", NULL);
	ck_assert_uint_eq(jseen.len, 0);
	captured(&b);
	ck_assert_ptr_nonnull(strstr(buf_str(&b), "]: event=plain\n"));
	setenv("JOURNAL_STREAM", "garbage", 1);
	log_init("t");
	log_msg(LOG_INFO, "plain2", NULL);
	ck_assert_uint_eq(jseen.len, 0);
	buf_free(&b);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_no_progname);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_long_value);
	tcase_add_test(tc, test_debug_filter);
	tcase_add_test(tc, test_die);
	tcase_add_test(tc, test_sanitize_text);
	tcase_add_test(tc, test_journal);
	tcase_add_test(tc, test_journal_mismatch);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

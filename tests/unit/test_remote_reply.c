/*
 * test_remote_reply.c — SMTP reply parsing (remote/reply.c) and the
 * wire form of message bodies (remote/body.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remote/body.h"
#include "remote/reply.h"

/* Feed lines separated by '|' (no NUL inside); return the last result. */
static int
feed(struct reply *r, const char *lines, const char **why)
{
	const char *p = lines, *bar;
	int rc = REPLY_BAD;

	reply_init(r);
	for (;;) {
		bar = strchr(p, '|');
		rc = reply_feed(r, p, bar ? (size_t)(bar - p) : strlen(p), why);
		if (bar == NULL || rc != REPLY_MORE)
			return rc;
		p = bar + 1;
	}
}

START_TEST(single_line)
{
	struct reply r;
	const char *why = NULL;

	ck_assert_int_eq(feed(&r, "250 2.1.5 Ok", &why), REPLY_DONE);
	ck_assert_int_eq(r.code, 250);
	ck_assert_str_eq(r.dsn, "2.1.5");
	ck_assert_str_eq(r.text, "250 2.1.5 Ok");
	ck_assert_str_eq(reply_dsn(&r), "2.1.5");
}
END_TEST

START_TEST(multi_line_short_last)
{
	struct reply r;
	const char *why = NULL;

	/* last line of exactly three octets (CVE-2020-8794's shape) */
	ck_assert_int_eq(feed(&r, "550-5.1.1 first|550-second|550", &why),
	    REPLY_DONE);
	ck_assert_int_eq(r.code, 550);
	ck_assert_int_eq((int)r.nlines, 3);
	ck_assert_str_eq(r.text, "550 5.1.1 first second");
	ck_assert_str_eq(reply_dsn(&r), "5.1.1");
	/* "550 " with nothing after: complete, no text */
	ck_assert_int_eq(feed(&r, "550-x|550 ", &why), REPLY_DONE);
	ck_assert_str_eq(r.text, "550 x");
}
END_TEST

START_TEST(malformed)
{
	struct reply r;
	const char *why = NULL;

	ck_assert_int_eq(feed(&r, "25", &why), REPLY_BAD);
	ck_assert_int_eq(feed(&r, "", &why), REPLY_BAD);
	ck_assert_int_eq(feed(&r, "2x0 ok", &why), REPLY_BAD);
	ck_assert_int_eq(feed(&r, "250_ok", &why), REPLY_BAD);
	ck_assert_int_eq(feed(&r, "150 ok", &why), REPLY_BAD);
	ck_assert_int_eq(feed(&r, "650 ok", &why), REPLY_BAD);
	ck_assert_int_eq(feed(&r, "250-a|251 b", &why), REPLY_BAD);
	ck_assert_str_eq(why, "reply code changed inside a multi-line reply");
	ck_assert_int_eq(feed(&r, "250-a|2", &why), REPLY_BAD);
	/* feeding a finished reply */
	ck_assert_int_eq(feed(&r, "250 a", &why), REPLY_DONE);
	ck_assert_int_eq(reply_feed(&r, "250 b", 5, &why), REPLY_BAD);
}
END_TEST

START_TEST(nul_and_controls_sanitised)
{
	struct reply r;
	const char *why = NULL;
	const char line[] = "451 4.3.0 a\0b\x1b[31m\xff";

	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, line, sizeof(line) - 1, &why),
	    REPLY_DONE);
	ck_assert_str_eq(r.text, "451 4.3.0 a?b?[31m?");
	ck_assert_int_eq(r.code, 451);
}
END_TEST

START_TEST(limits)
{
	struct reply r;
	const char *why = NULL;
	char *big;
	int i, rc = REPLY_MORE;

	big = malloc(REPLY_LINE_MAX + 10);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', REPLY_LINE_MAX + 10);
	memcpy(big, "250 ", 4);
	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, big, REPLY_LINE_MAX, &why),
	    REPLY_DONE);
	ck_assert_uint_eq(r.textlen, REPLY_TEXT_MAX);
	ck_assert_uint_eq(strlen(r.text), REPLY_TEXT_MAX);
	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, big, REPLY_LINE_MAX + 1, &why),
	    REPLY_BAD);
	free(big);
	reply_init(&r);
	for (i = 0; i < REPLY_LINES_MAX && rc == REPLY_MORE; i++)
		rc = reply_feed(&r, "250-x", 5, &why);
	ck_assert_int_eq(rc, REPLY_MORE);
	ck_assert_int_eq(reply_feed(&r, "250 x", 5, &why), REPLY_BAD);
	ck_assert_str_eq(why, "too many reply lines");
}
END_TEST

START_TEST(dsn_parsing)
{
	struct reply r;
	const char *why = NULL;

	ck_assert_uint_eq(reply_parse_dsn("5.1.10 x", 8), 6);
	ck_assert_uint_eq(reply_parse_dsn("4.4.1", 5), 5);
	ck_assert_uint_eq(reply_parse_dsn("5.1.1000", 8), 0);
	ck_assert_uint_eq(reply_parse_dsn("3.1.1", 5), 0);
	ck_assert_uint_eq(reply_parse_dsn("5.1.", 4), 0);
	ck_assert_uint_eq(reply_parse_dsn("5..1", 4), 0);
	ck_assert_uint_eq(reply_parse_dsn("5.1.1x", 6), 0);
	/* class must match the code */
	ck_assert_int_eq(feed(&r, "550 4.1.1 odd", &why), REPLY_DONE);
	ck_assert_str_eq(r.dsn, "");
	ck_assert_str_eq(reply_dsn(&r), "5.0.0");
	ck_assert_int_eq(feed(&r, "421 closing", &why), REPLY_DONE);
	ck_assert_str_eq(reply_dsn(&r), "4.0.0");
	ck_assert_int_eq(feed(&r, "354 go", &why), REPLY_DONE);
	ck_assert_int_eq(r.code, 354);
}
END_TEST

/* ---- body ------------------------------------------------------------ */

static void
conv(const char *in, size_t n, size_t split, const char *want,
    size_t wantlen)
{
	struct body_conv c;
	struct buf out = BUF_INIT;

	body_conv_init(&c);
	ck_assert_int_eq(body_conv_chunk(&c, in, split, &out), 0);
	ck_assert_int_eq(body_conv_chunk(&c, in + split, n - split, &out), 0);
	ck_assert_int_eq(body_conv_end(&c, &out), 0);
	ck_assert_uint_eq(out.len, wantlen);
	ck_assert_mem_eq(out.data, want, wantlen);
	buf_free(&out);
}

START_TEST(body_wire_form)
{
	static const struct {
		const char *in, *want;
	} v[] = {
		{ "a\nb\n", "a\r\nb\r\n.\r\n" },
		{ "a\nb", "a\r\nb\r\n.\r\n" },
		{ "", ".\r\n" },
		{ ".\n", "..\r\n.\r\n" },
		{ "x\n.\n..\n.y\n", "x\r\n..\r\n...\r\n..y\r\n.\r\n" },
		{ "a\r\n.\r\n", "a\r\n..\r\n.\r\n" },
		{ "a\r.\rb", "a\r\n..\r\nb\r\n.\r\n" },
		{ "a\r", "a\r\n.\r\n" },
		{ "a\r\r\n", "a\r\n\r\n.\r\n" },
		{ "x. y\n", "x. y\r\n.\r\n" },
	};
	size_t i, n, s;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = strlen(v[i].in);
		for (s = 0; s <= n; s++)
			conv(v[i].in, n, s, v[i].want, strlen(v[i].want));
	}
}
END_TEST

START_TEST(header_8bit)
{
	static const struct {
		const char *msg;
		bool eight, head;
	} v[] = {
		{ "Subject: caf\xc3\xa9\n\nbody\n", true, true },
		{ "Subject: x\r\n\r\ncaf\xc3\xa9\n", true, false },
		{ "Subject: x\n\n\xc3\xa9", true, false },
		{ "Subject: x\n \xc3\xa9 folded\n\nbody\n", true, true },
		{ "no header end \xc3\xa9", true, true },
		{ "Subject: x\n\nplain\n", false, false },
	};
	char path[] = "/tmp/test_remote_hdrXXXXXX";
	struct body_info info;
	size_t i, n;
	int fd;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		fd = mkstemp(path);
		ck_assert_int_ge(fd, 0);
		unlink(path);
		memcpy(path + strlen(path) - 6, "XXXXXX", 6);
		n = strlen(v[i].msg);
		ck_assert_int_eq(write(fd, v[i].msg, n), (ssize_t)n);
		ck_assert_int_eq(body_scan(fd, n, &info), 0);
		ck_assert_msg(info.eightbit == v[i].eight, "case %zu", i);
		ck_assert_msg(info.header8bit == v[i].head, "case %zu", i);
		close(fd);
	}
}
END_TEST

START_TEST(body_nul_kept)
{
	conv("a\0b\n", 4, 2, "a\0b\r\n.\r\n", 8);
}
END_TEST

START_TEST(body_scan_and_send)
{
	char path[] = "/tmp/test_remote_bodyXXXXXX";
	const char msg[] = "Subject: x\n\n.hi\n\xc3\xa9t\xc3\xa9\nend";
	const char want[] = "Subject: x\r\n\r\n..hi\r\n\xc3\xa9t\xc3\xa9\r\n"
	    "end\r\n.\r\n";
	struct body_info info;
	struct stream s;
	const char *why;
	char got[256];
	int fd, sv[2];
	ssize_t n;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, msg, sizeof(msg) - 1),
	    (ssize_t)sizeof(msg) - 1);
	ck_assert_int_eq(body_scan(fd, sizeof(msg) - 1, &info), 0);
	ck_assert_uint_eq(info.wire_size, sizeof(want) - 1 - 3);
	ck_assert(info.eightbit);
	ck_assert(!info.header8bit);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(stream_init(&s, sv[0], sv[0], 1000), 0);
	ck_assert_int_eq(body_send(fd, sizeof(msg) - 1, &s, &why), 0);
	close(sv[0]);
	n = io_read_full(sv[1], got, sizeof(got), 1000);
	ck_assert_int_eq(n, (ssize_t)sizeof(want) - 1);
	ck_assert_mem_eq(got, want, sizeof(want) - 1);
	stream_free(&s);
	close(sv[1]);
	close(fd);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("remote_reply");
	TCase *t = tcase_create("reply");

	tcase_add_test(t, single_line);
	tcase_add_test(t, multi_line_short_last);
	tcase_add_test(t, malformed);
	tcase_add_test(t, nul_and_controls_sanitised);
	tcase_add_test(t, limits);
	tcase_add_test(t, dsn_parsing);
	suite_add_tcase(s, t);
	t = tcase_create("body");
	tcase_add_test(t, body_wire_form);
	tcase_add_test(t, body_nul_kept);
	tcase_add_test(t, header_8bit);
	tcase_add_test(t, body_scan_and_send);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

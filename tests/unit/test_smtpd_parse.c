/*
 * test_smtpd_parse.c — unit tests for smtpd/parse.c and smtpd/data.c:
 * the verb split, MAIL/RCPT paths and every ESMTP parameter (SIZE, BODY,
 * SMTPUTF8, RET, ENVID, AUTH, NOTIFY, ORCPT) with the exact reply code
 * for each malformed form, BDAT arguments, and the DATA scanner
 * (dot-unstuffing, the only end CRLF.CRLF, bare CR/LF, NULs, Received
 * counting, size limit) fed in every chunking.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtpd.h"

START_TEST(test_split_verb)
{
	const char *args;
	size_t vl;
	const char *l = "MAIL   FROM:<a@b>";

	smtp_split_verb(l, strlen(l), &vl, &args);
	ck_assert_uint_eq(vl, 4);
	ck_assert_str_eq(args, "FROM:<a@b>");
	smtp_split_verb("QUIT", 4, &vl, &args);
	ck_assert_uint_eq(vl, 4);
	ck_assert_str_eq(args, "");
}
END_TEST

START_TEST(test_path_arg)
{
	struct parse_error pe;
	struct addr a;
	const char *rest;

	ck_assert_int_eq(smtp_parse_path_arg("FROM:<a@example.org> SIZE=1",
	    "FROM:", ADDR_ALLOW_NULL, &a, &rest, &pe), 0);
	ck_assert_str_eq(a.local, "a");
	ck_assert_str_eq(a.domain, "example.org");
	ck_assert_str_eq(rest, "SIZE=1");
	ck_assert_int_eq(smtp_parse_path_arg("from: <>", "FROM:",
	    ADDR_ALLOW_NULL, &a, &rest, &pe), 0);
	ck_assert(a.null);
	ck_assert_str_eq(rest, "");
	/* no brackets */
	ck_assert_int_eq(smtp_parse_path_arg("FROM:a@b.c", "FROM:",
	    ADDR_ALLOW_NULL, &a, &rest, &pe), -1);
	ck_assert_int_eq(pe.code, 501);
	ck_assert_str_eq(pe.dsn, "5.1.7");
	/* recipients get 5.1.3 */
	ck_assert_int_eq(smtp_parse_path_arg("TO:<a@@b>", "TO:", 0, &a,
	    &rest, &pe), -1);
	ck_assert_int_eq(pe.code, 501);
	ck_assert_str_eq(pe.dsn, "5.1.3");
	/* null path not allowed for RCPT */
	ck_assert_int_eq(smtp_parse_path_arg("TO:<>", "TO:", 0, &a,
	    &rest, &pe), -1);
	/* garbage glued to the path */
	ck_assert_int_eq(smtp_parse_path_arg("TO:<a@b.c>x", "TO:", 0, &a,
	    &rest, &pe), -1);
	/* wrong keyword */
	ck_assert_int_eq(smtp_parse_path_arg("FRUM:<a@b.c>", "FROM:", 0, &a,
	    &rest, &pe), -1);
	ck_assert_str_eq(pe.dsn, "5.5.4");
	/* the CVE-2020-7247 shape: never accepted */
	ck_assert_int_eq(smtp_parse_path_arg("FROM:<;sleep 66;>", "FROM:",
	    ADDR_ALLOW_NULL, &a, &rest, &pe), -1);
	/* source route accepted and stripped */
	ck_assert_int_eq(smtp_parse_path_arg("TO:<@relay.example:u@x.org>",
	    "TO:", 0, &a, &rest, &pe), 0);
	ck_assert_str_eq(a.domain, "x.org");
}
END_TEST

static int
mail(const char *s, bool esmtp, struct mail_params *mp, struct parse_error *pe)
{
	int r = smtp_parse_mail_params(s, esmtp, 1000, mp, pe);
	return r;
}

START_TEST(test_mail_params)
{
	struct mail_params mp;
	struct parse_error pe;

	ck_assert_int_eq(mail("SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS "
	    "ENVID=abc+2Bdef AUTH=<>", true, &mp, &pe), 0);
	ck_assert(mp.size_given);
	ck_assert_uint_eq(mp.size, 1000);
	ck_assert_int_eq(mp.body, BODY_8BITMIME);
	ck_assert(mp.smtputf8);
	ck_assert_int_eq(mp.ret, RET_HDRS);
	ck_assert_str_eq(mp.envid, "abc+def");
	ck_assert(mp.auth_given);
	mail_params_free(&mp);

	ck_assert_int_eq(mail("size=7 body=7bit ret=full", true, &mp, &pe), 0);
	ck_assert_int_eq(mp.ret, RET_FULL);
	mail_params_free(&mp);

	ck_assert_int_eq(mail("", true, &mp, &pe), 0);
	ck_assert(!mp.size_given);
	mail_params_free(&mp);
}
END_TEST

struct bad_case {
	const char *in;
	int code;
	const char *dsn;
};

START_TEST(test_mail_params_bad)
{
	static const struct bad_case cases[] = {
		{ "SIZE=1001", 552, "5.3.4" },
		{ "SIZE=99999999999999999999", 552, "5.3.4" },
		{ "SIZE=999999999999999999999", 501, "5.5.4" },
		{ "SIZE=-1", 501, "5.5.4" },
		{ "SIZE=1x", 501, "5.5.4" },
		{ "SIZE", 501, "5.5.4" },
		{ "SIZE=1 SIZE=2", 501, "5.5.4" },
		{ "BODY=BINARYMIME", 501, "5.5.4" },
		{ "BODY=", 501, "5.5.4" },
		{ "BODY=7BIT BODY=7BIT", 501, "5.5.4" },
		{ "SMTPUTF8=yes", 501, "5.5.4" },
		{ "SMTPUTF8 SMTPUTF8", 501, "5.5.4" },
		{ "RET=ALL", 501, "5.5.4" },
		{ "ENVID=a+zz", 501, "5.5.4" },
		{ "ENVID=a ENVID=b", 501, "5.5.4" },
		{ "ENVID=+00", 501, "5.5.4" },
		{ "AUTH", 501, "5.5.4" },
		{ "FOO=bar", 555, "5.5.4" },
		{ "-X=1", 501, "5.5.4" },
		{ "A=b=c", 501, "5.5.4" },
		{ "=x", 501, "5.5.4" },
		{ "X=\x7f", 501, "5.5.4" },
	};
	struct mail_params mp;
	struct parse_error pe;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(mail(cases[i].in, true, &mp, &pe) == -1,
		    "accepted %s", cases[i].in);
		ck_assert_msg(pe.code == cases[i].code, "%s: %d", cases[i].in,
		    pe.code);
		ck_assert_str_eq(pe.dsn, cases[i].dsn);
		mail_params_free(&mp);
	}
	/* after HELO, no parameters at all */
	ck_assert_int_eq(mail("SIZE=1", false, &mp, &pe), -1);
	ck_assert_int_eq(pe.code, 555);
	mail_params_free(&mp);
}
END_TEST

START_TEST(test_envid_too_long)
{
	char in[200];
	struct mail_params mp;
	struct parse_error pe;

	memcpy(in, "ENVID=", 6);
	memset(in + 6, 'x', 101);
	in[107] = '\0';
	ck_assert_int_eq(mail(in, true, &mp, &pe), -1);
	ck_assert_int_eq(pe.code, 501);
	mail_params_free(&mp);
	in[106] = '\0';
	ck_assert_int_eq(mail(in, true, &mp, &pe), 0);
	ck_assert_uint_eq(strlen(mp.envid), 100);
	mail_params_free(&mp);
}
END_TEST

START_TEST(test_rcpt_params)
{
	struct rcpt_params rp;
	struct parse_error pe;

	ck_assert_int_eq(smtp_parse_rcpt_params("NOTIFY=SUCCESS,DELAY "
	    "ORCPT=rfc822;a+40b.example", true, &rp, &pe), 0);
	ck_assert_uint_eq(rp.notify, NOTIFY_SUCCESS | NOTIFY_DELAY);
	/* kept as given (xtext), as envelope.h stores it */
	ck_assert_str_eq(rp.orcpt, "rfc822;a+40b.example");
	rcpt_params_free(&rp);
	ck_assert_int_eq(smtp_parse_rcpt_params("NOTIFY=NEVER", true, &rp,
	    &pe), 0);
	ck_assert_uint_eq(rp.notify, NOTIFY_NEVER);
	rcpt_params_free(&rp);

	static const struct bad_case cases[] = {
		{ "NOTIFY=NEVER,SUCCESS", 501, "5.5.4" },
		{ "NOTIFY=SOMETIMES", 501, "5.5.4" },
		{ "NOTIFY=SUCCESS NOTIFY=DELAY", 501, "5.5.4" },
		{ "ORCPT=a@b", 501, "5.5.4" },
		{ "ORCPT=;a@b", 501, "5.5.4" },
		{ "ORCPT=rfc822;a+4", 501, "5.5.4" },
		{ "ORCPT=rfc 822", 501, "5.5.4" },
		{ "SIZE=1", 555, "5.5.4" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(smtp_parse_rcpt_params(cases[i].in, true, &rp,
		    &pe) == -1, "accepted %s", cases[i].in);
		ck_assert_msg(pe.code == cases[i].code, "%s: %d", cases[i].in,
		    pe.code);
		rcpt_params_free(&rp);
	}
}
END_TEST

START_TEST(test_bdat_args)
{
	uint64_t n;
	bool last;

	ck_assert_int_eq(smtp_parse_bdat("100", &n, &last), 0);
	ck_assert_uint_eq(n, 100);
	ck_assert(!last);
	ck_assert_int_eq(smtp_parse_bdat("0 LAST", &n, &last), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert(last);
	ck_assert_int_eq(smtp_parse_bdat("5 last", &n, &last), 0);
	ck_assert_int_eq(smtp_parse_bdat("", &n, &last), -1);
	ck_assert_int_eq(smtp_parse_bdat("-5", &n, &last), -1);
	/* the size read, the rest wrong: the chunk can still be skipped */
	n = 0;
	ck_assert_int_eq(smtp_parse_bdat("5 FIRST", &n, &last), -2);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(smtp_parse_bdat("5 LAST x", &n, &last), -2);
	ck_assert_int_eq(smtp_parse_bdat("3 LASTX", &n, &last), -2);
	ck_assert_uint_eq(n, 3);
	/* no size: where the chunk ends is unknown */
	ck_assert_int_eq(smtp_parse_bdat("5x", &n, &last), -1);
	ck_assert_int_eq(smtp_parse_bdat("x 5", &n, &last), -1);
	ck_assert_int_eq(smtp_parse_bdat("123456789012345678901", &n,
	    &last), -1);
	ck_assert_int_eq(smtp_parse_bdat("18446744073709551616", &n,
	    &last), -1);
}
END_TEST

START_TEST(test_helo_valid)
{
	char big[300];

	ck_assert(smtp_helo_valid("mail.example.org"));
	ck_assert(smtp_helo_valid("[192.0.2.1]"));
	ck_assert(!smtp_helo_valid(""));
	ck_assert(!smtp_helo_valid("a b"));
	ck_assert(!smtp_helo_valid("a\tb"));
	ck_assert(!smtp_helo_valid("caf\xc3\xa9"));
	memset(big, 'a', 256);
	big[256] = '\0';
	ck_assert(!smtp_helo_valid(big));
	big[255] = '\0';
	ck_assert(smtp_helo_valid(big));
}
END_TEST

/* ---- the DATA scanner ---------------------------------------------------- */

static int
collect(void *arg, const void *p, size_t n)
{
	return buf_append(arg, p, n);
}

/* Feed in chunks of `step` octets; returns the consumed count. */
static size_t
scan(const char *in, size_t len, size_t step, bool dots, bool normalize,
    uint64_t max, struct buf *out, struct data_scan *d)
{
	size_t used = 0;

	buf_reset(out);
	data_scan_init(d, dots, normalize, max, collect, out);
	while (used < len && !d->done) {
		size_t n = len - used < step ? len - used : step;
		used += data_scan_feed(d, in + used, n);
	}
	if (!dots)
		data_scan_end(d);
	else
		data_scan_flush(d);
	return used;
}

struct scan_case {
	const char *in;
	const char *out;	/* produced message */
	bool done;		/* end of data found */
	size_t used;		/* octets consumed */
	unsigned flags;
};

START_TEST(test_scan_cases)
{
	static const struct scan_case cases[] = {
		{ "a\r\nb\r\n.\r\n", "a\nb\n", true, 9, 0 },
		{ ".\r\n", "", true, 3, 0 },
		{ "..x\r\n...\r\n.\r\nNOOP\r\n", ".x\n..\n", true, 13, 0 },
		{ ".x\r\n.\r\n", "x\n", true, 7, 0 },
		/* the smuggling variants: no end, bare line ends flagged */
		{ "a\n.\nb\r\n.\r\n", "a\n.\nb\n", true, 10, DATA_BARE },
		{ "a\r.\r\nb\r\n.\r\n", "a\n.\nb\n", true, 11, DATA_BARE },
		{ "a\n.\r\nb\r\n.\r\n", "a\n.\nb\n", true, 11, DATA_BARE },
		{ "a\r\n.\rb\r\n.\r\n", "a\n.\nb\n", true, 11, DATA_BARE },
		{ "a\r\n.\nb\r\n.\r\n", "a\n.\nb\n", true, 11, DATA_BARE },
		{ "a\r\n.\r", "a\n", false, 5, 0 },
		{ "x\0y\r\n.\r\n", "x", true, 0, DATA_NUL },
	};
	struct buf out = BUF_INIT;
	struct data_scan d;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct scan_case *c = &cases[i];
		size_t len = strlen(c->in);
		if (c->flags & DATA_NUL)
			len = 8;
		for (size_t step = 1; step <= len; step++) {
			size_t used = scan(c->in, len, step, true, false, 0,
			    &out, &d);
			ck_assert_msg(d.done == c->done, "case %zu step %zu",
			    i, step);
			ck_assert_msg(d.flags == c->flags, "case %zu: flags "
			    "%u", i, d.flags);
			if (c->flags & DATA_NUL)
				continue;
			ck_assert_msg(used == c->used, "case %zu step %zu: "
			    "used %zu", i, step, used);
			ck_assert_msg(out.len == strlen(c->out) &&
			    memcmp(out.data, c->out, out.len) == 0,
			    "case %zu step %zu: got [%s]", i, step,
			    buf_str(&out));
		}
	}
	buf_free(&out);
}
END_TEST

START_TEST(test_scan_normalize)
{
	struct buf out = BUF_INIT;
	struct data_scan d;
	const char *in = "a\nb\rc\r\n.\nd\r\n.\r\n";

	/* bare line ends become line ends, but ".\n" still ends nothing */
	scan(in, strlen(in), 3, true, true, 0, &out, &d);
	ck_assert(d.done);
	ck_assert_uint_eq(d.flags, 0);
	ck_assert_str_eq(buf_str(&out), "a\nb\nc\n.\nd\n");
	buf_free(&out);
}
END_TEST

START_TEST(test_scan_received_and_size)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct data_scan d;

	/* 99 and the one smtpd adds make 100: not a loop yet */
	for (int i = 0; i < 99; i++)
		buf_append_str(&in, "Received: from x\r\n");
	buf_append_str(&in, "Subject: s\r\n\r\nReceived: in body\r\n.\r\n");
	scan(in.data, in.len, 7, true, false, 0, &out, &d);
	ck_assert_uint_eq(d.received, 99);
	ck_assert_uint_eq(d.flags, 0);
	buf_reset(&in);
	for (int i = 0; i < 100; i++)
		buf_append_str(&in, "received:x\r\n");
	buf_append_str(&in, "\r\n.\r\n");
	scan(in.data, in.len, 1000, true, false, 0, &out, &d);
	ck_assert_uint_eq(d.flags, DATA_LOOP);

	/* size: exactly the limit passes, one more fails */
	scan("12345\r\n.\r\n", 10, 4, true, false, 6, &out, &d);
	ck_assert_uint_eq(d.flags, 0);
	ck_assert_uint_eq(d.size, 6);
	scan("123456\r\n.\r\n", 11, 4, true, false, 6, &out, &d);
	ck_assert_uint_eq(d.flags, DATA_TOOBIG);
	ck_assert(d.done);
	buf_free(&in);
	buf_free(&out);
}
END_TEST

START_TEST(test_scan_bdat)
{
	struct buf out = BUF_INIT;
	struct data_scan d;

	/* no dot handling, no end; unterminated last line closed */
	scan(".a\r\n.\r\nb", 8, 3, false, false, 0, &out, &d);
	ck_assert(!d.done);
	ck_assert_uint_eq(d.flags, 0);
	ck_assert_str_eq(buf_str(&out), ".a\n.\nb\n");
	scan("a\r", 2, 1, false, false, 0, &out, &d);
	ck_assert_uint_eq(d.flags, DATA_BARE);
	scan("a\nb\r\n", 5, 1, false, false, 0, &out, &d);
	ck_assert_uint_eq(d.flags, DATA_BARE);
	buf_free(&out);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("smtpd_parse");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_split_verb);
	tcase_add_test(tc, test_path_arg);
	tcase_add_test(tc, test_mail_params);
	tcase_add_test(tc, test_mail_params_bad);
	tcase_add_test(tc, test_envid_too_long);
	tcase_add_test(tc, test_rcpt_params);
	tcase_add_test(tc, test_bdat_args);
	tcase_add_test(tc, test_helo_valid);
	tcase_add_test(tc, test_scan_cases);
	tcase_add_test(tc, test_scan_normalize);
	tcase_add_test(tc, test_scan_received_and_size);
	tcase_add_test(tc, test_scan_bdat);
	suite_add_tcase(s, tc);
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
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * test_queue_sendmail.c — the sendmail front end's message handling
 * (queue/sendmail_msg.c): the input filter, RFC 5322 address lists and
 * the header section, checked byte for byte.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/config.h"
#include "queue/sendmail_msg.h"

/* ---- filter ---------------------------------------------------------- */

/* Filter in, fed in pieces of step octets (0: all at once). */
static int
filt(const char *in, bool ignore_dots, size_t step, struct buf *out)
{
	struct sm_filter f;
	size_t n = strlen(in), pos = 0, k;
	int rc = 0;

	sm_filter_init(&f, ignore_dots);
	buf_reset(out);
	while (pos < n && rc == 0) {
		k = step == 0 || n - pos < step ? n - pos : step;
		rc = sm_filter_feed(&f, in + pos, k, out);
		pos += k;
	}
	ck_assert_int_ne(rc, -1);
	ck_assert_int_eq(sm_filter_finish(&f, out), 0);
	return rc;
}

static void
check_filter(const char *in, bool dots, const char *want, int want_end)
{
	struct buf out = BUF_INIT;
	size_t step;

	for (step = 0; step <= 3; step++) {
		ck_assert_int_eq(filt(in, dots, step, &out), want_end);
		ck_assert_str_eq(buf_str(&out), want);
	}
	buf_free(&out);
}

START_TEST(filter_crlf)
{
	check_filter("a\r\nb\r\n", false, "a\nb\n", 0);
	check_filter("a\nb", false, "a\nb\n", 0);
	check_filter("a\rb\r\n\r", false, "a\rb\n\r\n", 0);
	check_filter("", false, "", 0);
	check_filter("x\r\r\n", false, "x\r\n", 0);
}
END_TEST

START_TEST(filter_dot)
{
	check_filter("a\n.\nb\n", false, "a\n", 1);
	check_filter("a\r\n.\r\nb\r\n", false, "a\n", 1);
	check_filter(".\n", false, "", 1);
	check_filter("a\n.", false, "a\n", 0);
	check_filter("a\n..\n.x\n. \n", false, "a\n..\n.x\n. \n", 0);
	check_filter("a\n.\r.\n", false, "a\n.\r.\n", 0);
	check_filter("a.\n", false, "a.\n", 0);
	check_filter("a\n.\nb\n", true, "a\n.\nb\n", 0);
	check_filter("a\r\n.\r\n", true, "a\n.\n", 0);
}
END_TEST

/* ---- address lists --------------------------------------------------- */

static void
check_list(const char *in, const char *want)
{
	struct sm_rcpts l;
	struct buf got = BUF_INIT;
	const char *why = NULL;
	size_t i;

	sm_rcpts_init(&l);
	ck_assert_msg(sm_addrlist_parse(in, strlen(in), "host.example", &l,
	    &why) == 0, "%s: %s", in, why ? why : "?");
	for (i = 0; i < l.l.n; i++)
		buf_printf(&got, "%s%s", i ? " " : "", l.l.v[i]);
	ck_assert_str_eq(buf_str(&got), want);
	sm_rcpts_free(&l);
	buf_free(&got);
}

static void
check_bad(const char *in)
{
	struct sm_rcpts l;
	const char *why = NULL;

	sm_rcpts_init(&l);
	ck_assert_msg(sm_addrlist_parse(in, strlen(in), "host.example", &l,
	    &why) == -1, "accepted: %s", in);
	ck_assert_ptr_nonnull(why);
	sm_rcpts_free(&l);
}

START_TEST(addrlist_forms)
{
	check_list("a@example.org", "a@example.org");
	check_list(" a@example.org , b@example.net ",
	    "a@example.org b@example.net");
	check_list("Alice Smith <alice@example.org>", "alice@example.org");
	check_list("\"Smith, Alice\" <alice@example.org>, bob",
	    "alice@example.org bob@host.example");
	check_list("alice@example.org (Alice, the boss)", "alice@example.org");
	check_list("(c) alice(x)@(y)example.org", "alice@example.org");
	check_list("friends: a@x.org, B <b@y.org>;, c@z.org",
	    "a@x.org b@y.org c@z.org");
	check_list("undisclosed-recipients:;", "");
	check_list("undisclosed-recipients:", "");
	check_list("a@x.org,\n\tb@y.org,\n c@z.org", "a@x.org b@y.org c@z.org");
	check_list("<@relay.example:a@x.org>", "a@x.org");
	check_list("< a@x.org >", "a@x.org");
	check_list("\"john doe\"@x.org", "\"john doe\"@x.org");
	/* a field folded inside a quoted local part */
	check_list("\"john\n doe\"@x.org", "\"john doe\"@x.org");
	check_list("\"a\r\n b\"@x.org, Bob <\"c\n d\"@y.org>",
	    "\"a b\"@x.org \"c d\"@y.org");
	check_list("a@x.org, a@x.org, ,", "a@x.org");
	check_list("john . smith @ x.org", "john.smith@x.org");
	check_list("a@[127.0.0.1]", "a@[127.0.0.1]");
	check_list("", "");
}
END_TEST

START_TEST(addrlist_bad)
{
	check_bad("Alice Smith");
	check_bad("alice@example.org>");
	check_bad("<alice@example.org");
	check_bad("\"unterminated@example.org");
	check_bad("alice@example.org (comment");
	check_bad("g1: g2: a@b.org;;");
	check_bad("a@b.org;");
	check_bad("<a@b.org> junk");
	check_bad("<>");
	check_bad("a@-bad-.org");
	check_bad("a@b..org");
	check_bad("<<a@b.org>>");
	check_bad("a b@c.org");
}
END_TEST

START_TEST(addrlist_nul)
{
	struct sm_rcpts l;
	const char *why = NULL;

	sm_rcpts_init(&l);
	ck_assert_int_eq(sm_addrlist_parse("a@b.org\0c", 9, "h", &l, &why),
	    -1);
	ck_assert_uint_eq(l.l.n, 0);
	sm_rcpts_free(&l);
}
END_TEST

/* A domain is case-insensitive (RFC 5321 2.4), a local part is not:
 * a@X.example and a@x.example are one recipient (the first spelling is
 * kept), A@x.example another; non-ASCII domain octets compare exactly,
 * and an '@' in a quoted local part does not start the domain. */
START_TEST(rcpts_domain_case)
{
	struct sm_rcpts r;
	size_t i;

	sm_rcpts_init(&r);
	ck_assert_int_eq(sm_rcpts_add(&r, "a@X.Example"), 1);
	ck_assert_int_eq(sm_rcpts_add(&r, "a@x.example"), 0);
	ck_assert_int_eq(sm_rcpts_add(&r, "a@X.EXAMPLE"), 0);
	ck_assert_int_eq(sm_rcpts_add(&r, "A@x.example"), 1);
	ck_assert_int_eq(sm_rcpts_add(&r, "a@x.example.org"), 1);
	ck_assert_int_eq(sm_rcpts_add(&r, "a@[IPv6:::1]"), 1);
	ck_assert_int_eq(sm_rcpts_add(&r, "a@[ipv6:::1]"), 0);
	/* U+00C4 and U+00E4: different octets, different domains */
	ck_assert_int_eq(sm_rcpts_add(&r, "u@\xc3\x84.example"), 1);
	ck_assert_int_eq(sm_rcpts_add(&r, "u@\xc3\xa4.example"), 1);
	ck_assert_int_eq(sm_rcpts_add(&r, "u@\xc3\xa4.EXAMPLE"), 0);
	ck_assert_int_eq(sm_rcpts_add(&r, "\"q@X\"@h.example"), 1);
	ck_assert_int_eq(sm_rcpts_add(&r, "\"q@x\"@H.example"), 1);
	ck_assert_int_eq(sm_rcpts_add(&r, "\"q@x\"@h.EXAMPLE"), 0);
	ck_assert_uint_eq(r.l.n, 8);
	ck_assert_str_eq(r.l.v[0], "a@X.Example");
	ck_assert_str_eq(r.l.v[1], "A@x.example");
	/* also once the index has grown */
	for (i = 0; i < 3000; i++) {
		char a[64];

		snprintf(a, sizeof(a), "u%zu@Host%zu.Example", i, i % 7);
		ck_assert_int_eq(sm_rcpts_add(&r, a), 1);
	}
	for (i = 0; i < 3000; i++) {
		char a[64];

		snprintf(a, sizeof(a), "u%zu@HOST%zu.example", i, i % 7);
		ck_assert_int_eq(sm_rcpts_add(&r, a), 0);
	}
	ck_assert_uint_eq(r.l.n, 3008);
	sm_rcpts_free(&r);
}
END_TEST

/* Duplicates are removed across calls, keeping the order of first
 * appearance, also after the index has grown. */
START_TEST(rcpts_dedup)
{
	struct sm_rcpts r;
	const char *why = NULL;
	char a[64];
	size_t i;

	sm_rcpts_init(&r);
	ck_assert_int_eq(sm_addrlist_parse("b@x.org, a@x.org", 16, "h", &r,
	    &why), 0);
	ck_assert_int_eq(sm_addrlist_parse("A@x.org, a@x.org, b, b@x.org",
	    28, "x.org", &r, &why), 0);
	ck_assert_uint_eq(r.l.n, 3);
	ck_assert_str_eq(r.l.v[0], "b@x.org");
	ck_assert_str_eq(r.l.v[1], "a@x.org");
	ck_assert_str_eq(r.l.v[2], "A@x.org");
	for (i = 0; i < 5000; i++) {
		snprintf(a, sizeof(a), "u%zu@example.org", i);
		ck_assert_int_eq(sm_rcpts_add(&r, a), 1);
	}
	for (i = 0; i < 5000; i++) {
		snprintf(a, sizeof(a), "u%zu@example.org", 4999 - i);
		ck_assert_int_eq(sm_rcpts_add(&r, a), 0);
	}
	ck_assert_int_eq(sm_rcpts_add(&r, "b@x.org"), 0);
	ck_assert_uint_eq(r.l.n, 5003);
	for (i = 0; i < 5000; i++) {
		snprintf(a, sizeof(a), "u%zu@example.org", i);
		ck_assert_str_eq(r.l.v[3 + i], a);
	}
	sm_rcpts_free(&r);
}
END_TEST

/* 100,000 addresses in one To: field (about 2 MB) take well under a
 * second: a pairwise duplicate check (5e9 comparisons) took many. */
START_TEST(rcpts_near_linear)
{
	struct sm_rcpts r;
	struct buf in = BUF_INIT;
	struct timespec t0, t1;
	const char *why = NULL;
	size_t i, n = 100000;
	double cpu;

	for (i = 0; i < n; i++)
		ck_assert_int_eq(buf_printf(&in, "%sRecipient Number %zu "
		    "<r%zu@example.org>", i ? ", " : "", i, i), 0);
	sm_rcpts_init(&r);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	ck_assert_int_eq(sm_addrlist_parse(in.data, in.len, "h", &r, &why),
	    0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	cpu = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_uint_eq(r.l.n, n);
	ck_assert_str_eq(r.l.v[n - 1], "r99999@example.org");
	ck_assert_msg(cpu < 2.0, "%.2f s of CPU for %zu addresses", cpu, n);
	sm_rcpts_free(&r);
	buf_free(&in);
}
END_TEST

/* ---- headers --------------------------------------------------------- */

static const struct sm_addfields fixed = {
	"user@host.example", NULL, "host.example", 0, "UNIQ"
};

static void
rewrite(const char *in, const struct sm_addfields *a, const char *want_head,
    const char *want_body)
{
	struct sm_headers h;
	struct buf out = BUF_INIT;
	const char *why = NULL;

	sm_headers_init(&h);
	ck_assert_int_eq(sm_headers_parse(&h, in, strlen(in), true, &why), 1);
	ck_assert_int_eq(sm_headers_write(&h, a, &out), 0);
	ck_assert_str_eq(buf_str(&out), want_head);
	ck_assert_str_eq(in + h.body_off, want_body);
	sm_headers_free(&h);
	buf_free(&out);
}

START_TEST(headers_kept_and_bcc_removed)
{
	rewrite("From: a@b.org\nTo: c@d.org\nBcc: x@y.org,\n  z@y.org\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\nmessage-id: <m@b.org>\n"
	    "Subject: hi\n\tthere\n\nbody\nBcc: not a header\n", &fixed,
	    "From: a@b.org\nTo: c@d.org\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\nmessage-id: <m@b.org>\n"
	    "Subject: hi\n\tthere\n\n",
	    "body\nBcc: not a header\n");
}
END_TEST

START_TEST(headers_added)
{
	struct sm_addfields a = fixed;

	setenv("TZ", "UTC", 1);
	tzset();
	a.now = 86400;
	rewrite("Subject: x\n\nbody\n", &a,
	    "Subject: x\nFrom: user@host.example\n"
	    "Date: Fri, 02 Jan 1970 00:00:00 +0000\n"
	    "Message-ID: <UNIQ@host.example>\n\n", "body\n");
	a.full_name = "Alice Q. User";
	rewrite("", &a, "From: \"Alice Q. User\" <user@host.example>\n"
	    "Date: Fri, 02 Jan 1970 00:00:00 +0000\n"
	    "Message-ID: <UNIQ@host.example>\n\n", "");
	a.full_name = "Alice";
	rewrite("To: b@c.org\nDate: x\nMessage-Id: <y@z>\n", &a,
	    "To: b@c.org\nDate: x\nMessage-Id: <y@z>\n"
	    "From: Alice <user@host.example>\n\n", "");
}
END_TEST

START_TEST(headers_body_without_separator)
{
	setenv("TZ", "UTC", 1);
	tzset();
	rewrite("From: a@b.org\nthis is the body\nX: y\n", &fixed,
	    "From: a@b.org\nDate: Thu, 01 Jan 1970 00:00:00 +0000\n"
	    "Message-ID: <UNIQ@host.example>\n\n",
	    "this is the body\nX: y\n");
	/* a continuation line first is not a header */
	rewrite(" x\n", &fixed, "From: user@host.example\n"
	    "Date: Thu, 01 Jan 1970 00:00:00 +0000\n"
	    "Message-ID: <UNIQ@host.example>\n\n", " x\n");
}
END_TEST

START_TEST(headers_mbox_from_line)
{
	struct sm_headers h;
	const char *in = "From alice Mon Jan  1 00:00:00 2024\nTo: b@c.org\n"
	    "\nbody\n";
	const char *why = NULL;

	sm_headers_init(&h);
	ck_assert_int_eq(sm_headers_parse(&h, in, strlen(in), true, &why), 1);
	ck_assert_uint_eq(h.n, 1);
	ck_assert(sm_field_is(&h, 0, "to"));
	ck_assert_str_eq(in + h.body_off, "body\n");
	sm_headers_free(&h);
}
END_TEST

START_TEST(headers_incremental)
{
	struct sm_headers h;
	const char *why = NULL;
	const char *in = "To: a@b.org\nSubject: x\n\nbody";
	size_t n;

	sm_headers_init(&h);
	/* every proper prefix before the blank line needs more input */
	for (n = 0; n < 24; n++)
		ck_assert_int_eq(sm_headers_parse(&h, in, n, false, &why), 0);
	ck_assert_int_eq(sm_headers_parse(&h, in, 24, false, &why), 1);
	ck_assert_uint_eq(h.body_off, 24);
	ck_assert_uint_eq(h.n, 2);
	/* at EOF a partial section is the whole section */
	ck_assert_int_eq(sm_headers_parse(&h, in, 11, true, &why), 1);
	ck_assert_uint_eq(h.n, 1);
	ck_assert_uint_eq(h.body_off, 11);
	sm_headers_free(&h);
}
END_TEST

START_TEST(headers_too_large)
{
	struct sm_headers h;
	const char *why = NULL;
	size_t n = SM_HEADER_MAX + 100, i;
	char *big = malloc(n);

	ck_assert_ptr_nonnull(big);
	/* two fields of 600 KiB, the second one not ended yet */
	memset(big, 'a', n);
	memcpy(big, "X: ", 3);
	big[600 * 1024] = '\n';
	memcpy(big + 600 * 1024 + 1, "Y: ", 3);
	sm_headers_init(&h);
	ck_assert_int_eq(sm_headers_parse(&h, big, n, false, &why), -1);
	ck_assert_str_eq(why, "header section too large");
	/* ended, and the blank line there too */
	big[n - 2] = '\n';
	big[n - 1] = '\n';
	why = NULL;
	ck_assert_int_eq(sm_headers_parse(&h, big, n, true, &why), -1);
	ck_assert_str_eq(why, "header section too large");
	/* many short fields */
	for (i = 0; i + 6 <= n; i += 6)
		memcpy(big + i, "X: y\n", 5), big[i + 5] = ' ';
	why = NULL;
	ck_assert_int_eq(sm_headers_parse(&h, big, n, true, &why), -1);
	ck_assert_ptr_nonnull(why);
	sm_headers_free(&h);
	free(big);
}
END_TEST

/* Parse in[0..n); want the section to end at body_off with nfields. */
static void
check_section(const char *in, size_t n, bool eof, size_t body_off,
    size_t nfields)
{
	struct sm_headers h;
	const char *why = NULL;

	sm_headers_init(&h);
	ck_assert_int_eq(sm_headers_parse(&h, in, n, eof, &why), 1);
	ck_assert_uint_eq(h.body_off, body_off);
	ck_assert_uint_eq(h.n, nfields);
	ck_assert(!h.separator);
	sm_headers_free(&h);
}

static void
check_more(const char *in)
{
	struct sm_headers h;
	const char *why = NULL;

	sm_headers_init(&h);
	ck_assert_msg(sm_headers_parse(&h, in, strlen(in), false, &why) == 0,
	    "decided early: %s", in);
	sm_headers_free(&h);
}

START_TEST(headers_not_a_field)
{
	size_t n = SM_HEADER_MAX + 100;
	char *big = malloc(n + 20);
	const char *s;

	/* a byte that cannot be in a field name decides at once, before
	 * the line ends */
	s = "hello world: this is a body";
	check_section(s, strlen(s), false, 0, 0);
	s = "To: a@b.org\nSome text";
	check_section(s, strlen(s), false, 12, 1);
	s = "\xc3\xa9t\xc3\xa9: x";
	check_section(s, strlen(s), false, 0, 0);
	s = "Subject x";
	check_section(s, strlen(s), false, 0, 0);
	/* still possible fields: more input is needed */
	check_more("To: a@b.org\nX-Long-Name-Without-Colon-Yet");
	check_more("Subject   ");
	check_more("Subject :");
	check_more("{\"k\":\"v");
	/* a line longer than a header section may be is body, even when
	 * it looks like a field (jq -c output: {"k":"...."}) */
	ck_assert_ptr_nonnull(big);
	memset(big, 'v', n);
	memcpy(big, "{\"k\":\"", 6);
	check_section(big, n, false, 0, 0);
	big[n] = '\n';
	check_section(big, n + 1, true, 0, 0);
	memcpy(big, "To: a@b.org\n", 12);
	check_section(big, n + 1, true, 12, 1);
	free(big);
}
END_TEST

START_TEST(headers_field_value)
{
	struct sm_headers h;
	const char *why = NULL, *v;
	const char *in = "To : a@b.org,\n c@d.org\nCc:e@f.org\n\n";
	size_t vlen;

	sm_headers_init(&h);
	ck_assert_int_eq(sm_headers_parse(&h, in, strlen(in), false, &why),
	    1);
	ck_assert(sm_field_is(&h, 0, "TO"));
	sm_field_value(&h, 0, &v, &vlen);
	ck_assert_uint_eq(vlen, strlen(" a@b.org,\n c@d.org\n"));
	ck_assert(memcmp(v, " a@b.org,\n c@d.org\n", vlen) == 0);
	ck_assert(sm_field_is(&h, 1, "cc"));
	ck_assert(!sm_field_is(&h, 1, "c"));
	sm_headers_free(&h);
}
END_TEST

/* ---- phrases and dates ----------------------------------------------- */

static void
check_phrase(const char *in, const char *want)
{
	struct buf out = BUF_INIT;

	ck_assert_int_eq(sm_phrase(in, &out), 0);
	ck_assert_str_eq(buf_str(&out), want);
	buf_free(&out);
}

START_TEST(phrase_forms)
{
	check_phrase("Alice Smith", "Alice Smith");
	check_phrase("Smith, Alice", "\"Smith, Alice\"");
	check_phrase("A \"B\" \\C", "\"A \\\"B\\\" \\\\C\"");
	check_phrase("Evil\r\nBcc: x@y.org", "\"EvilBcc: x@y.org\"");
	check_phrase("J\xc3\xbcrgen", "=?UTF-8?B?SsO8cmdlbg==?=");
	check_phrase("\xff\xfe" "abc", "\"abc\"");
	check_phrase("", "");
	check_phrase(" lead", "\" lead\"");
}
END_TEST

START_TEST(date_format)
{
	struct buf out = BUF_INIT;

	setenv("TZ", "UTC", 1);
	tzset();
	ck_assert_int_eq(sm_date(1700000000, &out), 0);
	ck_assert_str_eq(buf_str(&out), "Tue, 14 Nov 2023 22:13:20 +0000");
	buf_free(&out);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("queue_sendmail");
	TCase *tc = tcase_create("all");

	tcase_add_test(tc, filter_crlf);
	tcase_add_test(tc, filter_dot);
	tcase_add_test(tc, addrlist_forms);
	tcase_add_test(tc, addrlist_bad);
	tcase_add_test(tc, addrlist_nul);
	tcase_add_test(tc, rcpts_dedup);
	tcase_add_test(tc, rcpts_domain_case);
	tcase_add_test(tc, rcpts_near_linear);
	tcase_add_test(tc, headers_kept_and_bcc_removed);
	tcase_add_test(tc, headers_added);
	tcase_add_test(tc, headers_body_without_separator);
	tcase_add_test(tc, headers_mbox_from_line);
	tcase_add_test(tc, headers_incremental);
	tcase_add_test(tc, headers_too_large);
	tcase_add_test(tc, headers_not_a_field);
	tcase_add_test(tc, headers_field_value);
	tcase_add_test(tc, phrase_forms);
	tcase_add_test(tc, date_format);
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

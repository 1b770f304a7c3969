/*
 * test_bounce_scan.c — unit tests for bounce/scan.c: where the header
 * section ends (blank line, a line that is not a field, end of input),
 * Message-ID extraction (folded, invalid, overlong), 8-bit / NUL /
 * long-line detection per section, and that feeding in chunks of any size
 * gives the same result as feeding everything at once.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bounce/scan.h"

static void
scan_str(struct msgscan *s, const char *p, size_t n)
{
	msgscan_init(s);
	msgscan_feed(s, p, n);
	msgscan_end(s);
}

START_TEST(test_blank_line)
{
	static const char m[] = "From: a@b\nMessage-ID: <x1@example.org>\n"
	    "\nbody\n";
	struct msgscan s;

	scan_str(&s, m, sizeof(m) - 1);
	ck_assert(s.hdr_done);
	ck_assert(s.has_blank);
	ck_assert_uint_eq(s.hdr_len, 39);
	ck_assert_uint_eq(s.body_off, 40);
	ck_assert_str_eq(s.msgid, "<x1@example.org>");
	ck_assert(!s.hdr_8bit && !s.body_8bit && !s.hdr_nul && !s.body_nul);
	ck_assert(!s.hdr_long && !s.body_long);
}
END_TEST

START_TEST(test_folded_msgid)
{
	static const char m[] = "Subject: hi\nmessage-id:\n"
	    "\t<folded.1@example.org>  (comment)\nTo: c@d\n\nx";
	struct msgscan s;

	scan_str(&s, m, sizeof(m) - 1);
	ck_assert_str_eq(s.msgid, "<folded.1@example.org>");
	ck_assert(s.has_blank);
}
END_TEST

START_TEST(test_first_msgid_wins)
{
	static const char m[] = "Message-ID: <one@a>\nMessage-ID: <two@b>\n\n";
	struct msgscan s;

	scan_str(&s, m, sizeof(m) - 1);
	ck_assert_str_eq(s.msgid, "<one@a>");
}
END_TEST

START_TEST(test_no_field_line_ends_header)
{
	static const char m[] = "From: a@b\nthis is not a field\nMessage-ID: "
	    "<late@x>\n";
	struct msgscan s;

	scan_str(&s, m, sizeof(m) - 1);
	ck_assert(!s.has_blank);
	ck_assert_uint_eq(s.hdr_len, 10);
	ck_assert_uint_eq(s.body_off, 10);
	ck_assert_str_eq(s.msgid, "");	/* it was in the body */
}
END_TEST

/* RFC 5322 4.5 (obs-optional): white space before the colon is still a
 * field; a word followed by anything but a colon is not. */
START_TEST(test_obs_space_before_colon)
{
	static const char m[] = "Subject : x\nMessage-ID\t : <obs@x.org>\n"
	    "To: c@d\n\nbody\n";
	static const char n[] = "From: a@b\nnot a: field\n\n";
	struct msgscan s;

	scan_str(&s, m, sizeof(m) - 1);
	ck_assert(s.has_blank);
	ck_assert_uint_eq(s.hdr_len, 46);
	ck_assert_str_eq(s.msgid, "<obs@x.org>");
	scan_str(&s, n, sizeof(n) - 1);
	ck_assert(!s.has_blank);
	ck_assert_uint_eq(s.hdr_len, 10);
}
END_TEST

START_TEST(test_body_only)
{
	static const char m[] = " leading space\nfoo\n";
	static const char m2[] = "\nbody\n";
	struct msgscan s;

	scan_str(&s, m, sizeof(m) - 1);
	ck_assert_uint_eq(s.hdr_len, 0);
	ck_assert_uint_eq(s.body_off, 0);
	scan_str(&s, m2, sizeof(m2) - 1);
	ck_assert_uint_eq(s.hdr_len, 0);
	ck_assert_uint_eq(s.body_off, 1);
	ck_assert(s.has_blank);
}
END_TEST

START_TEST(test_headers_only_eof)
{
	static const char m[] = "From: a@b\nMessage-ID: <eof@x>";
	static const char m2[] = "From: a@b\nNoColonAtEOF";
	struct msgscan s;

	scan_str(&s, m, sizeof(m) - 1);
	ck_assert(s.hdr_done && !s.has_blank);
	ck_assert_uint_eq(s.hdr_len, sizeof(m) - 1);
	ck_assert_str_eq(s.msgid, "<eof@x>");
	scan_str(&s, m2, sizeof(m2) - 1);
	ck_assert_uint_eq(s.hdr_len, 10);
}
END_TEST

START_TEST(test_8bit_sections)
{
	static const char m[] = "Subject: caf\xc3\xa9\n\nplain\n";
	static const char m2[] = "Subject: x\n\ncaf\xc3\xa9\n";
	struct msgscan s;

	scan_str(&s, m, sizeof(m) - 1);
	ck_assert(s.hdr_8bit);
	ck_assert(!s.body_8bit);
	scan_str(&s, m2, sizeof(m2) - 1);
	ck_assert(!s.hdr_8bit);
	ck_assert(s.body_8bit);
}
END_TEST

START_TEST(test_nul_and_long)
{
	char *m = malloc(3000);
	struct msgscan s;
	size_t n = 0;

	ck_assert_ptr_nonnull(m);
	memcpy(m, "A: b\n\n", 6);
	n = 6;
	memset(m + n, 'x', 998);	/* exactly 998: fine */
	n += 998;
	m[n++] = '\n';
	scan_str(&s, m, n);
	ck_assert(!s.body_long);
	memset(m + n, 'y', 999);	/* 999: too long */
	n += 999;
	m[n++] = '\n';
	m[n++] = '\0';
	scan_str(&s, m, n);
	ck_assert(s.body_long);
	ck_assert(s.body_nul);
	ck_assert(!s.hdr_long && !s.hdr_nul);
	free(m);
}
END_TEST

START_TEST(test_long_header)
{
	char m[2100];
	struct msgscan s;

	memcpy(m, "X-Long: ", 8);
	memset(m + 8, 'z', 2000);
	memcpy(m + 2008, "\nMessage-ID: <a@b>\n\n", 20);
	scan_str(&s, m, 2028);
	ck_assert(s.hdr_long);
	ck_assert(!s.body_long);
	ck_assert_str_eq(s.msgid, "<a@b>");
	ck_assert_uint_eq(s.body_off, 2028);
}
END_TEST

START_TEST(test_chunking_equivalent)
{
	static const char m[] = "Received: from x\n\tby y\nMessage-Id:\n"
	    " <chunk@example.org>\nSubject: \xe2\x82\xac\n\nbody \x01\n";
	struct msgscan whole, bytes;
	size_t i;

	scan_str(&whole, m, sizeof(m) - 1);
	msgscan_init(&bytes);
	for (i = 0; i < sizeof(m) - 1; i++)
		msgscan_feed(&bytes, m + i, 1);
	msgscan_end(&bytes);
	ck_assert_str_eq(whole.msgid, "<chunk@example.org>");
	ck_assert_str_eq(bytes.msgid, whole.msgid);
	ck_assert_uint_eq(bytes.hdr_len, whole.hdr_len);
	ck_assert_uint_eq(bytes.body_off, whole.body_off);
	ck_assert(bytes.hdr_8bit == whole.hdr_8bit);
	ck_assert(whole.hdr_8bit);
}
END_TEST

START_TEST(test_msgid_extract)
{
	char out[SCAN_MSGID_MAX + 1];
	char big[400];

	ck_assert_int_eq(msgid_extract(" <a.b@c.d> ", 11, out), 1);
	ck_assert_str_eq(out, "<a.b@c.d>");
	ck_assert_int_eq(msgid_extract("<no-at-sign>", 12, out), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(msgid_extract("<@x>", 4, out), 0);
	ck_assert_int_eq(msgid_extract("<x@>", 4, out), 0);
	ck_assert_int_eq(msgid_extract("<a b@c>", 7, out), 0);
	ck_assert_int_eq(msgid_extract("<a\r\nX: y@c>", 11, out), 0);
	ck_assert_int_eq(msgid_extract("<a@c", 4, out), 0);
	ck_assert_int_eq(msgid_extract("<caf\xc3\xa9@c>", 10, out), 0);
	big[0] = '<';
	memset(big + 1, 'a', 300);
	memcpy(big + 301, "@b>", 3);
	ck_assert_int_eq(msgid_extract(big, 304, out), 0);
}
END_TEST

static Suite *
scan_suite(void)
{
	Suite *s = suite_create("bounce_scan");
	TCase *tc = tcase_create("scan");

	tcase_add_test(tc, test_blank_line);
	tcase_add_test(tc, test_folded_msgid);
	tcase_add_test(tc, test_first_msgid_wins);
	tcase_add_test(tc, test_no_field_line_ends_header);
	tcase_add_test(tc, test_obs_space_before_colon);
	tcase_add_test(tc, test_body_only);
	tcase_add_test(tc, test_headers_only_eof);
	tcase_add_test(tc, test_8bit_sections);
	tcase_add_test(tc, test_nul_and_long);
	tcase_add_test(tc, test_long_header);
	tcase_add_test(tc, test_chunking_equivalent);
	tcase_add_test(tc, test_msgid_extract);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(scan_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

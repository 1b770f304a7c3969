/*
 * test_base64.c — unit tests for common/base64.c: the RFC 4648 §10
 * vectors both ways, AUTH's PLAIN answer, everything malformed a peer
 * can send (bad length, padding in the middle or three of it, characters
 * outside the alphabet, line breaks), appending to what the buffer held
 * and leaving it as it was on failure, and every octet value through a
 * round trip.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"

static void
check_pair(const char *in, size_t n, const char *enc)
{
	struct buf b = BUF_INIT;

	buf_append_str(&b, ">");
	ck_assert_int_eq(base64_encode(in, n, &b), 0);
	ck_assert_uint_eq(b.len, strlen(enc) + 1);
	ck_assert_mem_eq(b.data + 1, enc, strlen(enc));
	buf_reset(&b);
	buf_append_str(&b, ">");
	ck_assert_int_eq(base64_decode(enc, strlen(enc), &b), 0);
	ck_assert_uint_eq(b.len, n + 1);
	ck_assert_mem_eq(b.data + 1, in, n);
	buf_free(&b);
}

START_TEST(test_vectors)
{
	check_pair("", 0, "");
	check_pair("f", 1, "Zg==");
	check_pair("fo", 2, "Zm8=");
	check_pair("foo", 3, "Zm9v");
	check_pair("foob", 4, "Zm9vYg==");
	check_pair("fooba", 5, "Zm9vYmE=");
	check_pair("foobar", 6, "Zm9vYmFy");
	check_pair("\xff\xfe\xfd\x00", 4, "//79AA==");
	check_pair("J\xc3\xbcrgen", 7, "SsO8cmdlbg==");
	/* AUTH PLAIN: authzid NUL authcid NUL password */
	check_pair("\0alice\0secret", 13, "AGFsaWNlAHNlY3JldA==");
	check_pair("Username:", 9, "VXNlcm5hbWU6");
}
END_TEST

static void
check_bad(const char *s)
{
	struct buf b = BUF_INIT;

	buf_append_str(&b, "kept");
	ck_assert_int_eq(base64_decode(s, strlen(s), &b), -1);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_mem_eq(b.data, "kept", 4);
	buf_free(&b);
}

START_TEST(test_malformed)
{
	check_bad("Q");
	check_bad("QQ=");			/* not a multiple of 4 */
	check_bad("QUJDR");
	check_bad("Q===");			/* three '=' */
	check_bad("====");
	check_bad("QQ=A");			/* '=' then more */
	check_bad("QQ==QUJD");			/* padding in the middle */
	check_bad("Q!==");			/* outside the alphabet */
	check_bad("QU JD");
	check_bad("QUJD\r\n");			/* no line breaks */
	check_bad("Zm9v\nYmFy");
	check_bad("Zm9v-_8=");			/* the URL alphabet is not ours */
	check_bad("Zm9vYmFy\x80\x80\x80\x80");
}
END_TEST

START_TEST(test_nul_inside)
{
	struct buf b = BUF_INIT;

	/* the length is given: a NUL octet is a character outside the
	 * alphabet, not the end */
	ck_assert_int_eq(base64_decode("Zm9v\0\0\0\0", 8, &b), -1);
	ck_assert_uint_eq(b.len, 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_round_trip)
{
	unsigned char in[256 + 2];
	struct buf enc = BUF_INIT, dec = BUF_INIT;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	/* every length up to 258: all three remainders, every octet value */
	for (size_t n = 0; n <= sizeof(in); n++) {
		buf_reset(&enc);
		buf_reset(&dec);
		ck_assert_int_eq(base64_encode(in, n, &enc), 0);
		ck_assert_uint_eq(enc.len, (n + 2) / 3 * 4);
		ck_assert_int_eq(base64_decode(enc.data, enc.len, &dec), 0);
		ck_assert_uint_eq(dec.len, n);
		if (n > 0)
			ck_assert_mem_eq(dec.data, in, n);
	}
	buf_free(&enc);
	buf_free(&dec);
}
END_TEST

static Suite *
base64_suite(void)
{
	Suite *s = suite_create("base64");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_nul_inside);
	tcase_add_test(tc, test_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(base64_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * test_frame.c — unit tests for common/frame.c: encoding, strict decoding
 * of malformed netstrings (leading zeros, signs, huge lengths, missing
 * comma, truncation), reading frames from a pipe including EOF inside a
 * frame, and field splitting with embedded NULs.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/io.h"

START_TEST(test_put)
{
	struct buf b = BUF_INIT;
	const char *f[] = { "a", "", "bc" };

	ck_assert_int_eq(frame_put_str(&b, 'S', "a@b.c"), 0);
	ck_assert_str_eq(buf_str(&b), "6:Sa@b.c,");
	ck_assert_int_eq(frame_put(&b, 'X', "\0,", 2), 0);
	ck_assert_uint_eq(b.len, 9 + 6);
	ck_assert_int_eq(memcmp(b.data + 9, "3:X\0,,", 6), 0);
	buf_reset(&b);
	ck_assert_int_eq(frame_put_fields(&b, 'F', f, 3), 0);
	ck_assert_uint_eq(b.len, 9);
	ck_assert_int_eq(memcmp(b.data, "6:Fa\0\0bc,", 9), 0);
	buf_reset(&b);
	ck_assert_int_eq(frame_put(&b, 'E', "", 0), 0);
	ck_assert_str_eq(buf_str(&b), "1:E,");
	ck_assert_int_eq(frame_put(&b, 'E', "", SIZE_MAX), -1);
	ck_assert_str_eq(buf_str(&b), "1:E,");
	buf_free(&b);
}
END_TEST

static int
dec(const char *p, size_t len, size_t max)
{
	const char *pl;
	size_t plen, used;
	char tag;

	return frame_decode(p, len, max, &tag, &pl, &plen, &used);
}

START_TEST(test_decode_ok)
{
	const char *in = "6:Sa@b.c,3:R\0x,";
	const char *pl;
	size_t plen, used;
	char tag;

	ck_assert_int_eq(frame_decode(in, 15, 100, &tag, &pl, &plen, &used),
	    FRAME_OK);
	ck_assert_int_eq(tag, 'S');
	ck_assert_uint_eq(plen, 5);
	ck_assert_int_eq(memcmp(pl, "a@b.c", 5), 0);
	ck_assert_uint_eq(used, 9);
	ck_assert_int_eq(frame_decode(in + 9, 6, 100, &tag, &pl, &plen,
	    &used), FRAME_OK);
	ck_assert_int_eq(tag, 'R');
	ck_assert_uint_eq(plen, 2);
	ck_assert_int_eq(memcmp(pl, "\0x", 2), 0);
	ck_assert_uint_eq(used, 6);
	ck_assert_int_eq(dec("", 0, 100), FRAME_EOF);
	ck_assert_int_eq(dec("1:T,", 4, 1), FRAME_OK);
	ck_assert_int_eq(dec("10:T123456789,", 14, 10), FRAME_OK);
}
END_TEST

START_TEST(test_decode_bad)
{
	ck_assert_int_eq(dec("0:,", 3, 100), FRAME_BAD);
	ck_assert_int_eq(dec("06:Sa@b.c,", 10, 100), FRAME_BAD);
	ck_assert_int_eq(dec("00:", 3, 100), FRAME_BAD);
	ck_assert_int_eq(dec("+6:Sa@b.c,", 10, 100), FRAME_BAD);
	ck_assert_int_eq(dec("-1:S,", 5, 100), FRAME_BAD);
	ck_assert_int_eq(dec(" 6:Sa@b.c,", 10, 100), FRAME_BAD);
	ck_assert_int_eq(dec("6 :Sa@b.c,", 10, 100), FRAME_BAD);
	ck_assert_int_eq(dec("6:Sa@b.c;", 9, 100), FRAME_BAD);
	ck_assert_int_eq(dec("6:Sa@b.c", 8, 100), FRAME_BAD);
	ck_assert_int_eq(dec("6:Sa@b", 6, 100), FRAME_BAD);
	ck_assert_int_eq(dec("6", 1, 100), FRAME_BAD);
	ck_assert_int_eq(dec(":S,", 3, 100), FRAME_BAD);
	ck_assert_int_eq(dec("6:Sa@b.c,", 9, 5), FRAME_BAD);
	ck_assert_int_eq(dec("99999999999:S", 13, SIZE_MAX), FRAME_BAD);
	ck_assert_int_eq(dec("18446744073709551617:S,", 23, SIZE_MAX),
	    FRAME_BAD);
	ck_assert_int_eq(dec("9999999999:S,", 13, SIZE_MAX), FRAME_BAD);
	ck_assert_int_eq(dec("2:S\0", 4, 100), FRAME_BAD);
	ck_assert_int_eq(dec("6\0:Sa@b.c,", 10, 100), FRAME_BAD);
}
END_TEST

static int
pipe_read(const char *data, size_t len, size_t max, char *tag,
    struct buf *pl)
{
	struct stream s;
	int p[2], r;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(io_write_all(p[1], data, len, 1000), 0);
	close(p[1]);
	ck_assert_int_eq(stream_init(&s, p[0], -1, 2000), 0);
	r = frame_read(&s, max, tag, pl);
	if (r == FRAME_OK) {
		/* the next read sees exactly EOF */
		struct buf x = BUF_INIT;
		char t;

		ck_assert_int_eq(frame_read(&s, max, &t, &x), FRAME_EOF);
		buf_free(&x);
	}
	stream_free(&s);
	close(p[0]);
	return r;
}

START_TEST(test_read)
{
	struct buf pl = BUF_INIT;
	char tag = 0;

	ck_assert_int_eq(pipe_read("6:Sa@b.c,", 9, 100, &tag, &pl), FRAME_OK);
	ck_assert_int_eq(tag, 'S');
	ck_assert_str_eq(buf_str(&pl), "a@b.c");
	ck_assert_int_eq(pipe_read("4:Z\0\0\0,", 7, 100, &tag, &pl), FRAME_OK);
	ck_assert_uint_eq(pl.len, 3);
	buf_free(&pl);
	ck_assert_int_eq(pipe_read("1:Q,", 4, 100, &tag, &pl), FRAME_OK);
	ck_assert_uint_eq(pl.len, 0);
	ck_assert_ptr_nonnull(pl.data);
	ck_assert_int_eq(pipe_read("", 0, 100, &tag, &pl), FRAME_EOF);
	ck_assert_int_eq(pipe_read("6", 1, 100, &tag, &pl), FRAME_BAD);
	ck_assert_int_eq(pipe_read("6:", 2, 100, &tag, &pl), FRAME_BAD);
	ck_assert_int_eq(pipe_read("6:Sa@", 5, 100, &tag, &pl), FRAME_BAD);
	ck_assert_int_eq(pipe_read("6:Sa@b.c", 8, 100, &tag, &pl),
	    FRAME_BAD);
	ck_assert_int_eq(pipe_read("6:Sa@b.cX", 9, 100, &tag, &pl),
	    FRAME_BAD);
	ck_assert_int_eq(pipe_read("06:Sa@b.c,", 10, 100, &tag, &pl),
	    FRAME_BAD);
	ck_assert_int_eq(pipe_read("0:,", 3, 100, &tag, &pl), FRAME_BAD);
	ck_assert_int_eq(pipe_read("6:Sa@b.c,", 9, 5, &tag, &pl), FRAME_BAD);
	ck_assert_int_eq(pipe_read("12345678901:S", 13, SIZE_MAX, &tag, &pl),
	    FRAME_BAD);
	/* a huge announced length must not be allocated up front */
	ck_assert_int_eq(pipe_read("4000000000:Sx", 13, SIZE_MAX, &tag, &pl),
	    FRAME_BAD);
	ck_assert_uint_lt(pl.cap, 1000000);
	buf_free(&pl);
}
END_TEST

START_TEST(test_read_timeout)
{
	struct stream s;
	struct buf pl = BUF_INIT;
	char tag;
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "5:S", 3), 3);
	ck_assert_int_eq(stream_init(&s, p[0], -1, 100), 0);
	ck_assert_int_eq(frame_read(&s, 100, &tag, &pl), FRAME_ERR);
	stream_free(&s);
	buf_free(&pl);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_fields)
{
	struct buf st = BUF_INIT;
	const char *f[4];

	ck_assert_int_eq(frame_fields("a\0\0bc", 5, &st, f, 4), 3);
	ck_assert_str_eq(f[0], "a");
	ck_assert_str_eq(f[1], "");
	ck_assert_str_eq(f[2], "bc");
	ck_assert_int_eq(frame_fields("", 0, &st, f, 4), 1);
	ck_assert_str_eq(f[0], "");
	ck_assert_int_eq(frame_fields("\0\0\0\0", 4, &st, f, 4), -1);
	ck_assert_int_eq(frame_fields("\0\0\0", 3, &st, f, 4), 4);
	ck_assert_int_eq(frame_fields("x", 1, &st, f, 0), -1);
	buf_free(&st);
}
END_TEST

static Suite *
frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_put);
	tcase_add_test(tc, test_decode_ok);
	tcase_add_test(tc, test_decode_bad);
	tcase_add_test(tc, test_read);
	tcase_add_test(tc, test_read_timeout);
	tcase_add_test(tc, test_fields);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(frame_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

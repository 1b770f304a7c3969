/*
 * test_envelope.c — unit tests for common/envelope.c: encode/decode round
 * trip of every field, exact encoding, and rejection of hostile envelopes
 * (bad addresses, unknown and duplicate tags, numbers out of range or with
 * leading zeros, control octets, truncated frames, missing sender,
 * UTF-8 without SMTPUTF8), plus NOTIFY and xtext helpers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "common/frame.h"

static void
full_envelope(struct envelope *e)
{
	envelope_init(e);
	ck_assert_int_eq(envelope_set_sender(e, "s@example.org"), 0);
	ck_assert_int_eq(envelope_add_rcpt(e, "a@example.net",
	    NOTIFY_SUCCESS | NOTIFY_DELAY, "rfc822;a@example.net"), 0);
	ck_assert_int_eq(envelope_add_rcpt(e, "\"b c\"@[192.0.2.1]", 0,
	    NULL), 1);
	e->size = 12345;
	e->body = BODY_8BITMIME;
	e->smtputf8 = true;
	e->ret = RET_HDRS;
	envelope_set_str(&e->envid, "id-1");
	envelope_set_str(&e->auth, "alice");
	envelope_set_str(&e->client_addr, "192.0.2.9");
	envelope_set_str(&e->client_helo, "client.example");
	envelope_set_str(&e->protocol, "ESMTPSA");
	e->uid = 1000;
	e->arrival = 1700000000;
	envelope_set_str(&e->qid, "0005F1A2B3C4D5000123");
	e->rcpts[1].state = RCPT_DEFERRED;
	snprintf(e->rcpts[1].dsn, sizeof(e->rcpts[1].dsn), "4.2.2");
	envelope_set_str(&e->rcpts[1].diag, "mailbox full");
	envelope_set_str(&e->rcpts[1].remote_mta, "mx.example[192.0.2.1]");
	e->rcpts[1].last_attempt = 1700000100;
	e->rcpts[1].attempts = 3;
	e->rcpts[1].own_mailbox = true;
}

START_TEST(test_roundtrip)
{
	struct envelope e, d;
	struct buf b = BUF_INIT, b2 = BUF_INIT;
	const char *why = NULL;

	full_envelope(&e);
	ck_assert_int_eq(envelope_encode(&e, &b), 0);
	envelope_init(&d);
	ck_assert_int_eq(envelope_decode(b.data, b.len, &d, &why), 0);
	ck_assert_str_eq(d.sender, "s@example.org");
	ck_assert_uint_eq(d.nrcpts, 2);
	ck_assert_str_eq(d.rcpts[0].addr, "a@example.net");
	ck_assert_uint_eq(d.rcpts[0].notify, NOTIFY_SUCCESS | NOTIFY_DELAY);
	ck_assert_str_eq(d.rcpts[0].orcpt, "rfc822;a@example.net");
	ck_assert_int_eq(d.rcpts[0].state, RCPT_PENDING);
	ck_assert_str_eq(d.rcpts[0].dsn, "");
	ck_assert_ptr_null(d.rcpts[0].diag);
	ck_assert_str_eq(d.rcpts[1].addr, "\"b c\"@[192.0.2.1]");
	ck_assert_int_eq(d.rcpts[1].state, RCPT_DEFERRED);
	ck_assert_str_eq(d.rcpts[1].dsn, "4.2.2");
	ck_assert_str_eq(d.rcpts[1].diag, "mailbox full");
	ck_assert_str_eq(d.rcpts[1].remote_mta, "mx.example[192.0.2.1]");
	ck_assert_int_eq(d.rcpts[1].last_attempt, 1700000100);
	ck_assert_uint_eq(d.rcpts[1].attempts, 3);
	ck_assert(!d.rcpts[0].own_mailbox);
	ck_assert(d.rcpts[1].own_mailbox);
	ck_assert_uint_eq(d.size, 12345);
	ck_assert_int_eq(d.body, BODY_8BITMIME);
	ck_assert(d.smtputf8);
	ck_assert_int_eq(d.ret, RET_HDRS);
	ck_assert_str_eq(d.envid, "id-1");
	ck_assert_str_eq(d.auth, "alice");
	ck_assert_str_eq(d.client_addr, "192.0.2.9");
	ck_assert_str_eq(d.client_helo, "client.example");
	ck_assert_str_eq(d.protocol, "ESMTPSA");
	ck_assert_int_eq(d.uid, 1000);
	ck_assert_int_eq(d.arrival, 1700000000);
	ck_assert_str_eq(d.qid, "0005F1A2B3C4D5000123");
	/* re-encoding gives the same octets */
	ck_assert_int_eq(envelope_encode(&d, &b2), 0);
	ck_assert_uint_eq(b.len, b2.len);
	ck_assert_int_eq(memcmp(b.data, b2.data, b.len), 0);
	envelope_free(&e);
	envelope_free(&d);
	/* a freed envelope is reusable */
	ck_assert_int_eq(envelope_decode(b.data, b.len, &d, &why), 0);
	envelope_free(&d);
	buf_free(&b);
	buf_free(&b2);
}
END_TEST

START_TEST(test_exact_encoding)
{
	struct envelope e;
	struct buf b = BUF_INIT;

	envelope_init(&e);
	envelope_set_sender(&e, "");
	envelope_add_rcpt(&e, "u@d", NOTIFY_NEVER, NULL);
	ck_assert_int_eq(envelope_encode(&e, &b), 0);
	ck_assert_str_eq(buf_str(&b), "1:S,4:Ru@d,2:N1,");
	buf_reset(&b);
	e.rcpts[0].own_mailbox = true;
	ck_assert_int_eq(envelope_encode(&e, &b), 0);
	ck_assert_str_eq(buf_str(&b), "1:S,4:Ru@d,2:N1,1:F,");
	envelope_free(&e);
	buf_free(&b);
}
END_TEST

static const char *
dec(const char *p, size_t len)
{
	static char res[128];
	struct envelope e;
	const char *why = NULL;

	envelope_init(&e);
	if (envelope_decode(p, len, &e, &why) == 0)
		snprintf(res, sizeof(res), "ok");
	else {
		ck_assert_ptr_nonnull(why);
		snprintf(res, sizeof(res), "%s", why);
	}
	envelope_free(&e);
	return res;
}

#define DEC(s) dec((s), sizeof(s) - 1)

START_TEST(test_decode_bad)
{
	ck_assert_str_eq(DEC("1:S,"), "ok");
	ck_assert_str_eq(DEC(""), "envelope without sender");
	ck_assert_str_eq(DEC("4:Ru@d,"), "envelope without sender");
	ck_assert_str_eq(DEC("1:S,1:S,"), "duplicate sender");
	ck_assert_str_eq(DEC("1:S,2:Z1,2:Z1,"), "duplicate envelope field");
	ck_assert_str_eq(DEC("1:S,2:z1,"), "unknown envelope field");
	ck_assert_str_eq(DEC("1:S,2:?1,"), "unknown envelope field");
	ck_assert_str_eq(DEC("1:S,2:N1,"),
	    "recipient field before any recipient");
	ck_assert_str_eq(DEC("1:S,4:Ru@d"), "malformed envelope frame");
	ck_assert_str_eq(DEC("1:S,04:Ru@d,"), "malformed envelope frame");
	ck_assert_str_eq(DEC("1:S,9:Ru@d,"), "malformed envelope frame");
	ck_assert_str_eq(DEC("1:S,x"), "malformed envelope frame");
	ck_assert_str_eq(DEC("2:Sx,"), "missing @domain");
	ck_assert_str_eq(DEC("1:S,2:Ru,"), "missing @domain");
	ck_assert_str_eq(DEC("1:S,1:R,"), "empty local part");
	ck_assert_str_eq(DEC("1:S,5:Ru@d>,"), "invalid character in address");
	ck_assert_str_eq(DEC("1:S,6:R<u@d>,"), "empty local part");
	ck_assert_str_eq(DEC("1:S,5:Ru@d\0,"), "NUL octet in envelope field");
	ck_assert_str_eq(DEC("1:S,6:Ru@d\r\n,"),
	    "invalid character in address");
	ck_assert_str_eq(DEC("1:S,7:R\xc3\xbc@d.e,"),
	    "non-ASCII address without SMTPUTF8");
	ck_assert_str_eq(DEC("1:U,1:S,7:R\xc3\xbc@d.e,"), "ok");
	ck_assert_str_eq(DEC("1:U,1:S,6:R\xc3@d.e,"),
	    "invalid UTF-8 in local part");
	ck_assert_str_eq(DEC("2:U1,1:S,"), "malformed envelope field");
	/* numbers */
	ck_assert_str_eq(DEC("1:S,3:Z01,"), "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,3:Z-1,"), "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,1:Z,"), "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,21:Z18446744073709551615,"), "ok");
	ck_assert_str_eq(DEC("1:S,21:Z18446744073709551616,"),
	    "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,11:I4294967294,"), "ok");
	ck_assert_str_eq(DEC("1:S,11:I4294967295,"),
	    "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,20:W9223372036854775808,"),
	    "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,3:N16,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,2:N3,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,2:N2,2:N4,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,2:X4,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,2:X0,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,11:K4294967296,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,6:D4.2.2,"), "ok");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,6:D3.2.2,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,6:D4.2.x,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,9:D4.2222.2,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,5:D4.2.,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,6:D4.2.2,6:D4.2.2,"),
	    "bad or duplicate recipient field");
	/* the own-mailbox mark: empty, once per recipient */
	ck_assert_str_eq(DEC("1:S,4:Ru@d,1:F,4:Rv@d,1:F,"), "ok");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,1:F,1:F,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,2:F1,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,1:F,"),
	    "recipient field before any recipient");
	/* text fields */
	ck_assert_str_eq(DEC("1:S,4:Hx\ry,"), "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,4:Ru@d,4:Ga\nb,"),
	    "bad or duplicate recipient field");
	ck_assert_str_eq(DEC("1:S,1:V,"), "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,2:Qx,"), "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,21:Q0005f1A2B3C4D5000123,"),
	    "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,2:BX,"), "malformed envelope field");
	ck_assert_str_eq(DEC("1:S,5:Tfull,"), "malformed envelope field");
}
END_TEST

START_TEST(test_encode_notes_roundtrip)
{
	struct envelope e, d;
	struct buf b = BUF_INIT, diag = BUF_INIT;
	const char *why;
	size_t i;

	envelope_init(&e);
	envelope_set_sender(&e, "");
	envelope_add_rcpt(&e, "u@d.example", 0, NULL);
	buf_append_str(&diag, "550\t5.1.1\r\nno such user\x7f");
	for (i = 0; i < 2000; i++)
		buf_append_char(&diag, 'x');
	envelope_set_str(&e.rcpts[0].diag, diag.data);
	envelope_set_str(&e.rcpts[0].remote_mta, "mx\n[192.0.2.1]");
	memcpy(e.rcpts[0].dsn, "bogus", 6);
	e.rcpts[0].state = RCPT_FAILED;
	ck_assert_int_eq(envelope_encode(&e, &b), 0);
	envelope_init(&d);
	ck_assert_int_eq(envelope_decode(b.data, b.len, &d, &why), 0);
	ck_assert_uint_eq(strlen(d.rcpts[0].diag), 1024);
	ck_assert_int_eq(strncmp(d.rcpts[0].diag, "550?5.1.1??no such user?x",
	    25), 0);
	ck_assert_str_eq(d.rcpts[0].remote_mta, "mx?[192.0.2.1]");
	ck_assert_str_eq(d.rcpts[0].dsn, "");
	ck_assert_int_eq(d.rcpts[0].state, RCPT_FAILED);
	/* an out-of-range state is refused, not written */
	e.rcpts[0].state = (enum rcpt_state)7;
	buf_reset(&b);
	ck_assert_int_eq(envelope_encode(&e, &b), -1);
	ck_assert_uint_eq(b.len, 0);
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
	buf_free(&diag);
}
END_TEST

/* Recipients are counted without decoding, and the count stops past
 * max and at the first malformed frame. */
START_TEST(test_count_rcpts)
{
	static const char env[] = "14:Sa@example.org,14:Rb@example.org,"
	    "4:N123,14:Rc@example.org,14:Rd@example.org,";

	ck_assert_uint_eq(envelope_count_rcpts(env, sizeof(env) - 1, 10), 3);
	ck_assert_uint_eq(envelope_count_rcpts(env, sizeof(env) - 1, 1), 2);
	ck_assert_uint_eq(envelope_count_rcpts(env, sizeof(env) - 1, 0), 1);
	ck_assert_uint_eq(envelope_count_rcpts(env, 42, 10), 1);
	ck_assert_uint_eq(envelope_count_rcpts("junk", 4, 10), 0);
	ck_assert_uint_eq(envelope_count_rcpts("", 0, 10), 0);
}
END_TEST

START_TEST(test_decode_limits)
{
	struct buf b = BUF_INIT, v = BUF_INIT;
	size_t i;

	frame_put_str(&b, 'S', "");
	for (i = 0; i < 101; i++)
		buf_append_char(&v, 'e');
	frame_put(&b, 'V', v.data, 100);
	ck_assert_str_eq(dec(b.data, b.len), "ok");
	buf_reset(&b);
	frame_put_str(&b, 'S', "");
	frame_put(&b, 'V', v.data, 101);
	ck_assert_str_eq(dec(b.data, b.len), "malformed envelope field");
	buf_free(&b);
	buf_free(&v);
}
END_TEST

START_TEST(test_decode_frame)
{
	struct envelope e;
	const char *why;

	envelope_init(&e);
	ck_assert_int_eq(envelope_decode_frame(&e, 'M', "x", 1, &why), -1);
	ck_assert_int_eq(envelope_decode_frame(&e, 'S', "a@b", 3, &why), 0);
	ck_assert_int_eq(envelope_decode_frame(&e, 'e', "", 0, &why), 1);
	ck_assert_int_eq(envelope_decode_frame(&e, '.', "", 0, &why), 1);
	ck_assert_int_eq(envelope_decode_frame(&e, '\0', "", 0, &why), 1);
	ck_assert_str_eq(e.sender, "a@b");
	envelope_free(&e);
}
END_TEST

START_TEST(test_many_rcpts)
{
	struct envelope e, d;
	struct buf b = BUF_INIT;
	const char *why;
	char a[32];
	int i;

	envelope_init(&e);
	envelope_set_sender(&e, "x@y");
	for (i = 0; i < 1000; i++) {
		snprintf(a, sizeof(a), "u%d@d%d.example", i, i % 7);
		ck_assert_int_eq(envelope_add_rcpt(&e, a, 0, NULL), i);
	}
	ck_assert_int_eq(envelope_encode(&e, &b), 0);
	envelope_init(&d);
	ck_assert_int_eq(envelope_decode(b.data, b.len, &d, &why), 0);
	ck_assert_uint_eq(d.nrcpts, 1000);
	ck_assert_str_eq(d.rcpts[999].addr, "u999@d5.example");
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
}
END_TEST

START_TEST(test_notify)
{
	unsigned b = 0;
	char out[32];

	ck_assert_int_eq(notify_parse("NEVER", &b), 0);
	ck_assert_uint_eq(b, NOTIFY_NEVER);
	ck_assert_int_eq(notify_parse("success,Delay", &b), 0);
	ck_assert_uint_eq(b, NOTIFY_SUCCESS | NOTIFY_DELAY);
	ck_assert_int_eq(notify_parse("FAILURE", &b), 0);
	ck_assert_uint_eq(b, NOTIFY_FAILURE);
	ck_assert_int_eq(notify_parse("NEVER,SUCCESS", &b), -1);
	ck_assert_int_eq(notify_parse("SUCCESS,SUCCESS", &b), -1);
	ck_assert_int_eq(notify_parse("SUCCESS,", &b), -1);
	ck_assert_int_eq(notify_parse("", &b), -1);
	ck_assert_int_eq(notify_parse("SUCCESS DELAY", &b), -1);
	ck_assert_int_eq(notify_parse("SUCCESSX", &b), -1);
	ck_assert_int_eq(notify_format(NOTIFY_SUCCESS | NOTIFY_FAILURE |
	    NOTIFY_DELAY, out, sizeof(out)), 21);
	ck_assert_str_eq(out, "SUCCESS,FAILURE,DELAY");
	ck_assert_int_eq(notify_format(NOTIFY_NEVER, out, sizeof(out)), 5);
	ck_assert_str_eq(out, "NEVER");
	ck_assert_int_eq(notify_format(NOTIFY_DELAY, out, 5), -1);
	ck_assert_int_eq(notify_format(NOTIFY_DELAY, out, 6), 5);
	ck_assert_int_eq(notify_format(0, out, sizeof(out)), -1);
	ck_assert_int_eq(notify_format(NOTIFY_NEVER | NOTIFY_DELAY, out,
	    sizeof(out)), -1);
}
END_TEST

START_TEST(test_xtext)
{
	struct buf b = BUF_INIT;

	ck_assert_int_eq(xtext_decode("a+2Bb+3Dc", 9, &b), 0);
	ck_assert_str_eq(buf_str(&b), "a+b=c");
	buf_reset(&b);
	ck_assert_int_eq(xtext_decode("", 0, &b), 0);
	ck_assert_str_eq(buf_str(&b), "");
	ck_assert_int_eq(xtext_decode("a+2b", 4, &b), 0);
	ck_assert_str_eq(buf_str(&b), "a+");
	buf_reset(&b);
	ck_assert_int_eq(xtext_decode("a+2g", 4, &b), -1);
	ck_assert_int_eq(xtext_decode("a+2", 3, &b), -1);
	ck_assert_int_eq(xtext_decode("a+", 2, &b), -1);
	ck_assert_int_eq(xtext_decode("a=b", 3, &b), -1);
	ck_assert_int_eq(xtext_decode("a b", 3, &b), -1);
	ck_assert_int_eq(xtext_decode("+00", 3, &b), -1);
	ck_assert_int_eq(xtext_decode("\xc3\xbc", 2, &b), -1);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(xtext_encode("x", 1, &b), 0);
	ck_assert_int_eq(xtext_encode("a+b=c d\xff", 8, &b), 0);
	ck_assert_str_eq(buf_str(&b), "xa+2Bb+3Dc+20d+FF");
	buf_reset(&b);
	ck_assert_int_eq(xtext_decode("a+2Bb+3Dc+20d+FF", 16, &b), 0);
	ck_assert_int_eq(memcmp(b.data, "a+b=c d\xff", 8), 0);
	buf_free(&b);
}
END_TEST

static Suite *
envelope_suite(void)
{
	Suite *s = suite_create("envelope");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_exact_encoding);
	tcase_add_test(tc, test_decode_bad);
	tcase_add_test(tc, test_encode_notes_roundtrip);
	tcase_add_test(tc, test_decode_limits);
	tcase_add_test(tc, test_decode_frame);
	tcase_add_test(tc, test_many_rcpts);
	tcase_add_test(tc, test_notify);
	tcase_add_test(tc, test_xtext);
	tcase_add_test(tc, test_count_rcpts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(envelope_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

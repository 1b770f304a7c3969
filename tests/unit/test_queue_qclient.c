/*
 * test_queue_qclient.c — the client side of the injection protocol
 * (common/qclient.c) against a scripted fake queue: the mailq listing
 * byte for byte, the empty queue, verdicts (and hostile ones: wrong class,
 * control characters, a bogus queue id, none at all), the announced
 * envelope (frame A: the id read early, late or never, refused, lost,
 * malformed), flush errors, and a missing socket.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "common/frame.h"
#include "common/qclient.h"

static char sockpath[108];

/* Fork a server that accepts one connection, reads until the client's
 * end frame or shutdown, answers `reply` and closes.  To a submission
 * that starts with frame A it first sends `pre` (npre octets: the I
 * frame, or whatever a test wants), at once; with close_early it then
 * closes without reading on. */
static pid_t
fake_queue_a(const char *pre, size_t npre, int close_early,
    const char *reply, size_t n)
{
	int l, c;
	pid_t pid;
	char b[70000], *colon;
	ssize_t got;

	snprintf(sockpath, sizeof(sockpath), "/tmp/test_qclient.%ld.sock",
	    (long)getpid());
	unlink(sockpath);
	l = test_listen_unix(sockpath);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		c = accept(l, NULL, NULL);
		/* read the request: for L/F one frame; for a submission up
		 * to the client's shutdown */
		got = read(c, b, sizeof(b));
		if (got <= 0)
			_exit(1);
		colon = memchr(b, ':', (size_t)got);
		if (colon != NULL && colon + 1 < b + got && colon[1] == 'A') {
			if (npre > 0 && write(c, pre, npre) != (ssize_t)npre)
				_exit(1);
			if (close_early) {
				close(c);
				_exit(0);
			}
		}
		if (colon != NULL && colon + 1 < b + got &&
		    (colon[1] == 'E' || colon[1] == 'A'))
			while (read(c, b, sizeof(b)) > 0)
				;
		if (write(c, reply, n) != (ssize_t)n)
			_exit(1);
		close(c);
		_exit(0);
	}
	close(l);
	return pid;
}

static pid_t
fake_queue(const char *reply, size_t n)
{
	return fake_queue_a(NULL, 0, 0, reply, n);
}

static void
reap(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	unlink(sockpath);
}

static void
qframe(struct buf *b, const char *const *f, size_t n)
{
	ck_assert_int_eq(frame_put_fields(b, 'Q', f, n), 0);
}

START_TEST(listing)
{
	struct buf r = BUF_INIT, err = BUF_INIT;
	const char *q1[] = { "0660E1390C0295007A36", "4096", "1700000000",
	    "a@example.org", "2", "b@example.net", "4.4.1",
	    "connect to mx.example.net: refused", "c@example.net", "", "" };
	const char *q2[] = { "0660E1390DD4F8007A40", "100", "1700003600", "",
	    "1", "d@example.com", "", "" };
	const char *end[] = { "250", "2.0.0", "end of listing", "" };
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;
	pid_t pid;

	setenv("TZ", "UTC", 1);
	tzset();
	qframe(&r, q1, 11);
	qframe(&r, q2, 8);
	frame_put_fields(&r, 'R', end, 4);
	pid = fake_queue(r.data, r.len);
	f = open_memstream(&out, &outlen);
	ck_assert_int_eq(qclient_list(sockpath, f, &err), 0);
	fclose(f);
	reap(pid);
	ck_assert_str_eq(out,
	    "-Queue ID-            --Size-- ----Arrival Time----  "
	    "-Sender/Recipient-------\n"
	    "0660E1390C0295007A36      4096 Tue Nov 14 22:13:20   "
	    "a@example.org\n"
	    "        (4.4.1 connect to mx.example.net: refused)\n"
	    "                                                     "
	    "b@example.net\n"
	    "                                                     "
	    "c@example.net\n"
	    "\n"
	    "0660E1390DD4F8007A40       100 Tue Nov 14 23:13:20   "
	    "MAILER-DAEMON\n"
	    "                                                     "
	    "d@example.com\n"
	    "\n"
	    "-- 5 Kbytes in 2 Requests.\n");
	free(out);
	buf_free(&r);
	buf_free(&err);
}
END_TEST

START_TEST(empty_and_bad_listing)
{
	struct buf r = BUF_INIT, err = BUF_INIT;
	const char *end[] = { "250", "2.0.0", "end of listing", "" };
	const char *bad[] = { "not-a-qid", "1", "1", "", "0" };
	const char *lies[] = { "0660E1390DD4F8007A40", "1", "1", "", "2",
	    "x@y.z", "", "" };
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;
	pid_t pid;

	frame_put_fields(&r, 'R', end, 4);
	pid = fake_queue(r.data, r.len);
	f = open_memstream(&out, &outlen);
	ck_assert_int_eq(qclient_list(sockpath, f, &err), 0);
	fclose(f);
	reap(pid);
	ck_assert_str_eq(out, "Mail queue is empty\n");
	free(out);
	buf_reset(&r);
	qframe(&r, bad, 5);
	frame_put_fields(&r, 'R', end, 4);
	pid = fake_queue(r.data, r.len);
	f = open_memstream(&out, &outlen);
	ck_assert_int_eq(qclient_list(sockpath, f, &err), -1);
	ck_assert_str_eq(buf_str(&err), "451 4.3.0 malformed queue listing");
	fclose(f);
	free(out);
	reap(pid);
	buf_reset(&r);
	qframe(&r, lies, 8);	/* says 2 recipients, has 1 */
	frame_put_fields(&r, 'R', end, 4);
	pid = fake_queue(r.data, r.len);
	f = open_memstream(&out, &outlen);
	ck_assert_int_eq(qclient_list(sockpath, f, &err), -1);
	ck_assert_str_eq(buf_str(&err), "451 4.3.0 malformed queue listing");
	fclose(f);
	free(out);
	reap(pid);
	buf_free(&r);
	buf_free(&err);
}
END_TEST

/* Submit a message to a fake queue answering with `fields`. */
static int
submit(const char *const *fields, size_t n, struct qresult *res)
{
	struct envelope e;
	struct buf r = BUF_INIT, err = BUF_INIT;
	struct qclient *q;
	pid_t pid;
	int rc;

	if (n > 0)
		frame_put_fields(&r, 'R', fields, n);
	pid = fake_queue(r.data != NULL ? r.data : "", r.len);
	envelope_init(&e);
	envelope_set_sender(&e, "a@example.org");
	envelope_add_rcpt(&e, "b@example.net", 0, NULL);
	q = qclient_open(sockpath, &err);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(qclient_envelope(q, &e), 0);
	ck_assert_int_eq(qclient_write(q, "hello\n", 6), 0);
	rc = qclient_finish(q, res);
	reap(pid);
	envelope_free(&e);
	buf_free(&r);
	buf_free(&err);
	return rc;
}

START_TEST(verdicts)
{
	struct qresult res;
	const char *ok[] = { "250", "2.0.0", "queued", "0660E1390C0295007A36" };
	const char *full[] = { "452", "4.3.1", "insufficient system storage",
	    "" };
	const char *cls[] = { "250", "5.0.0", "queued", "0660E1390C0295007A36" };
	const char *ctl[] = { "554", "5.5.0", "bad\r\n250 ok\x1b", "" };
	const char *qid[] = { "250", "2.0.0", "queued", "../../etc/passwd" };
	const char *big[] = { "999", "5.0.0", "x", "" };

	ck_assert_int_eq(submit(ok, 4, &res), 0);
	ck_assert_int_eq(res.code, 250);
	ck_assert_str_eq(res.dsn, "2.0.0");
	ck_assert_str_eq(res.qid, "0660E1390C0295007A36");
	ck_assert_int_eq(submit(full, 4, &res), -1);
	ck_assert_int_eq(res.code, 452);
	ck_assert_str_eq(res.text, "insufficient system storage");
	ck_assert_str_eq(res.qid, "");
	ck_assert_int_eq(submit(ctl, 4, &res), -1);
	ck_assert_int_eq(res.code, 554);
	ck_assert_str_eq(res.text, "bad??250 ok?");
	ck_assert_int_eq(submit(cls, 4, &res), -1);
	ck_assert_int_eq(res.code, 451);
	ck_assert_str_eq(res.text, "malformed reply from the queue");
	ck_assert_int_eq(submit(qid, 4, &res), -1);
	ck_assert_int_eq(res.code, 451);
	ck_assert_int_eq(submit(big, 4, &res), -1);
	ck_assert_int_eq(res.code, 451);
	ck_assert_int_eq(submit(NULL, 0, &res), -1);
	ck_assert_int_eq(res.code, 451);
	ck_assert_str_eq(res.dsn, "4.3.0");
	ck_assert_str_eq(res.text, "queue connection lost");
}
END_TEST

/* Announce the envelope (frame A) to a fake queue that answers `pre` at
 * once and `fields` after the data; ask for the id first when want_qid.
 * Returns what qclient_finish returned; *qidr what qclient_qid did. */
static int
announce(const char *pre, size_t npre, int close_early,
    const char *const *fields, size_t n, int want_qid, int *qidr,
    char qid[QID_LEN + 1], struct qresult *res)
{
	struct envelope e;
	struct buf r = BUF_INIT, err = BUF_INIT;
	struct qclient *q;
	pid_t pid;
	int rc;

	if (n > 0)
		frame_put_fields(&r, 'R', fields, n);
	pid = fake_queue_a(pre, npre, close_early,
	    r.data != NULL ? r.data : "", r.len);
	envelope_init(&e);
	envelope_set_sender(&e, "a@example.org");
	envelope_add_rcpt(&e, "b@example.net", 0, NULL);
	q = qclient_open(sockpath, &err);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(qclient_envelope_announce(q, &e), 0);
	qid[0] = 'x';
	*qidr = want_qid ? qclient_qid(q, qid) : 0;
	(void)qclient_write(q, "hello\n", 6);
	rc = qclient_finish(q, res);
	reap(pid);
	envelope_free(&e);
	buf_free(&r);
	buf_free(&err);
	return rc;
}

START_TEST(announced_envelope)
{
	struct buf i = BUF_INIT;
	struct qresult res;
	char qid[QID_LEN + 1];
	const char *ok[] = { "250", "2.0.0", "queued", "0660E1390C0295007A36" };
	const char *many[] = { "452", "4.5.3", "too many recipients", "" };
	int qr;

	frame_put(&i, 'I', "0660E1390C0295007A36", 20);
	/* the id, then the verdict */
	ck_assert_int_eq(announce(i.data, i.len, 0, ok, 4, 1, &qr, qid, &res),
	    0);
	ck_assert_int_eq(qr, 0);
	ck_assert_str_eq(qid, "0660E1390C0295007A36");
	ck_assert_int_eq(res.code, 250);
	ck_assert_str_eq(res.qid, "0660E1390C0295007A36");
	/* nobody asked for the id: finish reads it before the verdict */
	ck_assert_int_eq(announce(i.data, i.len, 0, ok, 4, 0, &qr, qid, &res),
	    0);
	ck_assert_int_eq(res.code, 250);
	ck_assert_str_eq(res.qid, "0660E1390C0295007A36");
	/* the queue refuses the envelope: no id, its verdict after the
	 * data */
	buf_reset(&i);
	frame_put(&i, 'I', "", 0);
	ck_assert_int_eq(announce(i.data, i.len, 0, many, 4, 1, &qr, qid,
	    &res), -1);
	ck_assert_int_eq(qr, 0);
	ck_assert_str_eq(qid, "");
	ck_assert_int_eq(res.code, 452);
	ck_assert_str_eq(res.dsn, "4.5.3");
	ck_assert_str_eq(res.text, "too many recipients");
	buf_free(&i);
}
END_TEST

START_TEST(announced_envelope_lost)
{
	struct buf i = BUF_INIT;
	struct qresult res;
	char qid[QID_LEN + 1];
	const char *ok[] = { "250", "2.0.0", "queued", "0660E1390C0295007A36" };
	struct envelope e;
	struct buf err = BUF_INIT;
	struct qclient *q;
	pid_t pid;
	int qr;

	/* the queue closes without naming an id: never 250 */
	ck_assert_int_eq(announce("", 0, 1, NULL, 0, 1, &qr, qid, &res), -1);
	ck_assert_int_eq(qr, -1);
	ck_assert_str_eq(qid, "");
	ck_assert_int_eq(res.code, 451);
	ck_assert_str_eq(res.dsn, "4.3.0");
	ck_assert_str_eq(res.text, "queue connection lost");
	/* the same found only by finish */
	ck_assert_int_eq(announce("", 0, 1, NULL, 0, 0, &qr, qid, &res), -1);
	ck_assert_int_eq(res.code, 451);
	/* a malformed id, then a 250: nothing after it is believed */
	frame_put(&i, 'I', "../../etc/passwd0000", 20);
	frame_put_fields(&i, 'R', ok, 4);
	ck_assert_int_eq(announce(i.data, i.len, 0, NULL, 0, 1, &qr, qid,
	    &res), -1);
	ck_assert_int_eq(qr, -1);
	ck_assert_int_eq(res.code, 451);
	ck_assert_str_eq(res.text, "queue connection lost");
	ck_assert_int_eq(announce(i.data, i.len, 0, NULL, 0, 0, &qr, qid,
	    &res), -1);
	ck_assert_int_eq(res.code, 451);
	/* the id is asked for only after an announced envelope */
	pid = fake_queue(NULL, 0);
	envelope_init(&e);
	envelope_set_sender(&e, "a@example.org");
	envelope_add_rcpt(&e, "b@example.net", 0, NULL);
	q = qclient_open(sockpath, &err);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(qclient_envelope(q, &e), 0);
	ck_assert_int_eq(qclient_qid(q, qid), -1);
	qclient_abort(q);
	reap(pid);
	envelope_free(&e);
	buf_free(&err);
	buf_free(&i);
}
END_TEST

START_TEST(unreachable)
{
	struct buf err = BUF_INIT;
	const char *no[] = { "451", "4.3.0", "scheduler not reachable", "" };
	struct buf r = BUF_INIT;
	pid_t pid;

	ck_assert_ptr_null(qclient_open("/nonexistent/queue.sock", &err));
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "cannot connect to queue"));
	ck_assert_int_eq(qclient_flush("/nonexistent/queue.sock", NULL, &err),
	    -1);
	frame_put_fields(&r, 'R', no, 4);
	pid = fake_queue(r.data, r.len);
	ck_assert_int_eq(qclient_flush(sockpath, "example.org", &err), -1);
	ck_assert_str_eq(buf_str(&err), "451 4.3.0 scheduler not reachable");
	reap(pid);
	buf_free(&r);
	buf_free(&err);
}
END_TEST

/* A permanent refusal of the request (sendmail -qR with a bad domain)
 * is told apart from a temporary failure. */
START_TEST(flush_refused)
{
	struct buf err = BUF_INIT;
	const char *no[] = { "501", "5.5.4", "invalid domain", "" };
	struct buf r = BUF_INIT;
	pid_t pid;

	frame_put_fields(&r, 'R', no, 4);
	pid = fake_queue(r.data, r.len);
	ck_assert_int_eq(qclient_flush(sockpath, "bad..domain", &err), -2);
	ck_assert_str_eq(buf_str(&err), "501 5.5.4 invalid domain");
	reap(pid);
	buf_free(&r);
	buf_free(&err);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("queue_qclient");
	TCase *t = tcase_create("qclient");
	SRunner *r;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_add_test(t, listing);
	tcase_add_test(t, empty_and_bad_listing);
	tcase_add_test(t, verdicts);
	tcase_add_test(t, announced_envelope);
	tcase_add_test(t, announced_envelope_lost);
	tcase_add_test(t, unreachable);
	tcase_add_test(t, flush_refused);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed == 0 ? 0 : 1;
}

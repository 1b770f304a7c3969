/*
 * test_queue_agentproto.c — the scheduler ↔ agent protocol and the
 * spawner request (common/agent.c, queue/PROTOCOL.md §3-4) over real
 * socketpairs: a job arrives with its descriptor, kind, domain, indexes
 * and envelope; results round-trip and are sanitised; every malformed
 * result, job or spawn request is refused.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/agent.h"
#include "common/frame.h"

static void
mkenv(struct envelope *e)
{
	envelope_init(e);
	ck_assert_int_eq(envelope_set_sender(e, "a@example.org"), 0);
	ck_assert_int_eq(envelope_add_rcpt(e, "b@example.net", 0, NULL), 0);
	ck_assert_int_eq(envelope_add_rcpt(e, "c@example.net", NOTIFY_SUCCESS,
	    NULL), 1);
	ck_assert_int_eq(envelope_set_str(&e->qid, "0005E1A2B3C4D5000123"),
	    0);
	e->arrival = 1700000000;
}

static int
msgfile(void)
{
	int fd = memfd_create("msg", 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "Subject: x\n\nhi\n", 15), 15);
	return fd;
}

START_TEST(job_round_trip)
{
	struct envelope e;
	struct agent_job j;
	struct stream s;
	const uint32_t idx[2] = { 4, 17 };
	const char *why = NULL;
	char b[32];
	int sv[2], fd;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	mkenv(&e);
	fd = msgfile();
	ck_assert_int_eq(agent_job_send(sv[0], JOB_DELIVER, &e, idx,
	    "example.net", fd), 0);
	close(fd);
	ck_assert_int_eq(agent_job_send(sv[0], JOB_BOUNCE_FAILED, &e, idx, NULL,
	    msgfile()), 0);
	stream_init(&s, sv[1], sv[1], 5000);
	ck_assert_int_eq(agent_job_read(&s, &j, &why), 1);
	ck_assert_int_eq(j.kind, JOB_DELIVER);
	ck_assert_str_eq(j.domain, "example.net");
	ck_assert_uint_eq(j.env.nrcpts, 2);
	ck_assert_uint_eq(j.rcpt_index[0], 4);
	ck_assert_uint_eq(j.rcpt_index[1], 17);
	ck_assert_str_eq(j.env.rcpts[1].addr, "c@example.net");
	ck_assert_str_eq(j.env.qid, "0005E1A2B3C4D5000123");
	ck_assert_int_ge(j.msgfd, 0);
	ck_assert_int_eq(pread(j.msgfd, b, sizeof(b), 0), 15);
	ck_assert_int_eq(memcmp(b, "Subject: x\n\nhi\n", 15), 0);
	agent_job_free(&j);
	ck_assert_int_eq(agent_job_read(&s, &j, &why), 1);
	ck_assert_int_eq(j.kind, JOB_BOUNCE_FAILED);
	ck_assert_str_eq(j.domain, "");
	agent_job_free(&j);
	close(sv[0]);
	ck_assert_int_eq(agent_job_read(&s, &j, &why), 0);	/* EOF */
	stream_free(&s);
	close(sv[1]);
	envelope_free(&e);
}
END_TEST

/* Feed raw bytes (with an fd or not) to agent_job_read. */
static int
read_raw(const char *p, size_t n, int withfd)
{
	struct agent_job j;
	struct stream s;
	const char *why = NULL;
	int sv[2], r, fd = -1;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (withfd)
		fd = msgfile();
	ck_assert_int_eq(io_send_fd(sv[0], p, n, fd, 1000), 0);
	if (fd != -1)
		close(fd);
	close(sv[0]);
	stream_init(&s, sv[1], sv[1], 1000);
	r = agent_job_read(&s, &j, &why);
	if (r == -1)
		ck_assert_ptr_nonnull(why);
	if (r == 1)
		agent_job_free(&j);
	stream_free(&s);
	close(sv[1]);
	return r;
}

/* A job whose J frame has the fields f[0..n) (NUL-joined). */
static void
job_bytes(struct buf *out, int goodenv, size_t n, const char *f0,
    const char *f1, const char *f2, const char *f3)
{
	struct envelope e;
	struct buf env = BUF_INIT;
	const char *f[4] = { f0, f1, f2, f3 };

	mkenv(&e);
	buf_reset(out);
	frame_put_fields(out, 'J', f, n);
	if (goodenv)
		envelope_encode(&e, &env);
	else
		buf_append_str(&env, "5:Rxyz,");
	frame_put(out, 'E', env.data, env.len);
	buf_free(&env);
	envelope_free(&e);
}

START_TEST(bad_jobs)
{
	struct buf b = BUF_INIT;

	job_bytes(&b, 1, 3, "0", "example.net", "4,17", NULL);
	ck_assert_int_eq(read_raw(b.data, b.len, 1), 1);
	ck_assert_int_eq(read_raw(b.data, b.len, 0), -1);	/* no fd */
	job_bytes(&b, 1, 3, "4", "", "4,17", NULL);		/* kind */
	ck_assert_int_eq(read_raw(b.data, b.len, 1), -1);
	job_bytes(&b, 1, 3, "0", "", "4", NULL);		/* 1 index */
	ck_assert_int_eq(read_raw(b.data, b.len, 1), -1);
	job_bytes(&b, 1, 3, "0", "", "4,17,5", NULL);		/* 3 */
	ck_assert_int_eq(read_raw(b.data, b.len, 1), -1);
	job_bytes(&b, 1, 3, "0", "", "4,x", NULL);
	ck_assert_int_eq(read_raw(b.data, b.len, 1), -1);
	job_bytes(&b, 1, 3, "0", "", "4,017", NULL);		/* 0 lead */
	ck_assert_int_eq(read_raw(b.data, b.len, 1), -1);
	job_bytes(&b, 1, 3, "0", "", "4,", NULL);
	ck_assert_int_eq(read_raw(b.data, b.len, 1), -1);
	job_bytes(&b, 0, 3, "0", "", "4,17", NULL);		/* envelope */
	ck_assert_int_eq(read_raw(b.data, b.len, 1), -1);
	job_bytes(&b, 1, 2, "0", "4,17", NULL, NULL);		/* 2 fields */
	ck_assert_int_eq(read_raw(b.data, b.len, 1), -1);
	job_bytes(&b, 1, 4, "0", "", "4,17", "");		/* 4 fields */
	ck_assert_int_eq(read_raw(b.data, b.len, 1), -1);
	ck_assert_int_eq(read_raw("3:Xab,", 6, 1), -1);
	ck_assert_int_eq(read_raw("9:J0", 4, 1), -1);		/* truncated */
	buf_free(&b);
}
END_TEST

START_TEST(results)
{
	struct envelope e;
	struct agent_job j;
	struct stream s;
	struct agent_result r;
	struct buf p = BUF_INIT;
	const uint32_t idx[2] = { 4, 17 };
	const char *why = NULL;
	char tag;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	mkenv(&e);
	ck_assert_int_eq(agent_job_send(sv[0], JOB_DELIVER, &e, idx, "",
	    msgfile()), 0);
	stream_init(&s, sv[1], sv[1], 5000);
	ck_assert_int_eq(agent_job_read(&s, &j, &why), 1);
	ck_assert_int_eq(agent_report(&s, &j, 1, 'P', "5.1.1",
	    "no such user\r\nX-Injected: yes", "mx.example.net[192.0.2.1]"), 0);
	ck_assert_int_eq(agent_report(&s, &j, 0, 'D', "4.0.0", NULL, NULL), 0);
	ck_assert_int_eq(agent_report(&s, &j, 2, 'D', "2.0.0", "", NULL), -1);
	ck_assert_int_eq(agent_report(&s, &j, 0, 'X', "2.0.0", "", NULL), -1);
	ck_assert_int_eq(agent_job_done(&s), 0);
	agent_job_free(&j);
	stream_free(&s);
	close(sv[1]);
	stream_init(&s, sv[0], sv[0], 5000);
	ck_assert_int_eq(frame_read(&s, 8192, &tag, &p), FRAME_OK);
	ck_assert_int_eq(agent_result_decode(tag, p.data, p.len, &r, &why), 1);
	ck_assert_uint_eq(r.rcpt_index, 17);
	ck_assert_int_eq(r.status, 'P');
	ck_assert_str_eq(r.dsn, "5.1.1");
	ck_assert_str_eq(r.text, "no such user??X-Injected: yes");
	ck_assert_str_eq(r.relay, "mx.example.net[192.0.2.1]");
	ck_assert_int_eq(frame_read(&s, 8192, &tag, &p), FRAME_OK);
	ck_assert_int_eq(agent_result_decode(tag, p.data, p.len, &r, &why), 1);
	ck_assert_uint_eq(r.rcpt_index, 4);
	ck_assert_str_eq(r.dsn, "2.0.0");	/* wrong class replaced */
	ck_assert_int_eq(frame_read(&s, 8192, &tag, &p), FRAME_OK);
	ck_assert_int_eq(agent_result_decode(tag, p.data, p.len, &r, &why), 2);
	stream_free(&s);
	close(sv[0]);
	buf_free(&p);
	envelope_free(&e);
}
END_TEST

/* Decode an R frame made of the fields f[0..n). */
static int
dec(size_t n, const char *f0, const char *f1, const char *f2,
    const char *f3, const char *f4, const char *f5)
{
	const char *f[6] = { f0, f1, f2, f3, f4, f5 };
	struct agent_result r;
	struct buf b = BUF_INIT;
	const char *why = NULL;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_append_char(&b, '\0');
		buf_append_str(&b, f[i]);
	}
	rc = agent_result_decode('R', b.data != NULL ? b.data : "", b.len, &r,
	    &why);
	if (rc == -1)
		ck_assert_ptr_nonnull(why);
	buf_free(&b);
	return rc;
}

START_TEST(bad_results)
{
	struct agent_result r;
	const char *why = NULL;

	ck_assert_int_eq(dec(5, "3", "D", "2.0.0", "ok", "", NULL), 1);
	ck_assert_int_eq(dec(5, "3", "T", "2.0.0", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(5, "3", "D", "5.0.0", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(5, "3", "DD", "2.0.0", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(5, "3", "", "2.0.0", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(5, "x", "D", "2.0.0", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(5, "-1", "D", "2.0.0", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(5, "03", "D", "2.0.0", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(5, "99999999999", "D", "2.0.0", "ok", "", NULL),
	    -1);
	ck_assert_int_eq(dec(5, "", "D", "2.0.0", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(5, "3", "D", "2.0", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(5, "3", "D", "2.0000.0", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(5, "3", "D", "2.0.0.", "ok", "", NULL), -1);
	ck_assert_int_eq(dec(4, "3", "D", "2.0.0", "ok", NULL, NULL), -1);
	ck_assert_int_eq(dec(6, "3", "D", "2.0.0", "ok", "", ""), -1);
	ck_assert_int_eq(agent_result_decode('Z', "", 0, &r, &why), 2);
	ck_assert_int_eq(agent_result_decode('Z', "x", 1, &r, &why), -1);
	ck_assert_int_eq(agent_result_decode('Q', "", 0, &r, &why), -1);
}
END_TEST

START_TEST(spawn_requests)
{
	struct stream s;
	struct spawn_req rq;
	char big[ADDR_MAX + 10];
	int sv[2], ctl[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, ctl), 0);
	ck_assert_int_eq(spawn_request_send(sv[0], SPAWN_LOCAL, 7,
	    "alice@local.test", false, ctl[1]), 0);
	ck_assert_int_eq(spawn_request_send(sv[0], SPAWN_LOCAL, 10,
	    "bob@local.test", true, ctl[1]), 0);
	ck_assert_int_eq(spawn_request_send(sv[0], SPAWN_REMOTE, 8, NULL,
	    false, ctl[1]), 0);
	ck_assert_int_eq(spawn_request_send(sv[0], SPAWN_KILL, 7, NULL, false,
	    -1), 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* refused before anything is sent */
	ck_assert_int_eq(spawn_request_send(sv[0], SPAWN_LOCAL, 9, big,
	    false, ctl[1]), -1);
	ck_assert_int_eq(spawn_request_send(sv[0], SPAWN_LOCAL, 9,
	    "x@y.example", false, -1), -1);
	/* "own mailbox" is for local agents only */
	ck_assert_int_eq(spawn_request_send(sv[0], SPAWN_REMOTE, 9, NULL,
	    true, ctl[1]), -1);
	ck_assert_int_eq(spawn_request_send(sv[0], SPAWN_KILL, 9, NULL,
	    false, ctl[1]), -1);
	ck_assert_int_eq(spawn_request_send(sv[0], SPAWN_REMOTE, 0, NULL,
	    false, ctl[1]), -1);
	ck_assert_int_eq(spawn_request_send(sv[0], 'Q', 9, NULL, false,
	    ctl[1]), -1);
	stream_init(&s, sv[1], sv[1], 1000);
	ck_assert_int_eq(spawn_request_read(&s, &rq), 1);
	ck_assert_int_eq(rq.kind, SPAWN_LOCAL);
	ck_assert_uint_eq(rq.id, 7);
	ck_assert_str_eq(rq.rcpt, "alice@local.test");
	ck_assert_int_ge(rq.fd, 0);
	/* the received descriptor is the same socket: talk through it */
	ck_assert_int_eq(write(rq.fd, "ping", 4), 4);
	ck_assert_int_eq(read(ctl[0], big, 4), 4);
	close(rq.fd);
	ck_assert(!rq.own_mailbox);
	ck_assert_int_eq(spawn_request_read(&s, &rq), 1);
	ck_assert_int_eq(rq.kind, SPAWN_LOCAL);
	ck_assert_uint_eq(rq.id, 10);
	ck_assert_str_eq(rq.rcpt, "bob@local.test");
	ck_assert(rq.own_mailbox);
	close(rq.fd);
	ck_assert_int_eq(spawn_request_read(&s, &rq), 1);
	ck_assert_int_eq(rq.kind, SPAWN_REMOTE);
	ck_assert_uint_eq(rq.id, 8);
	ck_assert_str_eq(rq.rcpt, "");
	ck_assert_int_ge(rq.fd, 0);
	close(rq.fd);
	ck_assert_int_eq(spawn_request_read(&s, &rq), 1);
	ck_assert_int_eq(rq.kind, SPAWN_KILL);
	ck_assert_uint_eq(rq.id, 7);
	ck_assert_int_eq(rq.fd, -1);
	/* a local request without a descriptor */
	ck_assert_int_eq(io_send_fd(sv[0], "9:S1\0x@y.z,", 11, -1, 1000), 0);
	ck_assert_int_eq(spawn_request_read(&s, &rq), -1);
	ck_assert_int_eq(rq.fd, -1);
	close(sv[0]);
	stream_free(&s);
	close(sv[1]);
	close(ctl[0]);
	close(ctl[1]);
}
END_TEST

/* Payloads one by one: what the spawner and the scheduler refuse. */
START_TEST(spawn_decode)
{
	static const struct {
		char tag;
		const char *p;
		size_t n;
		int fd, ok;
	} c[] = {
		{ 'S', "1\0a@b.example", 13, 1, 0 },
		{ 'S', "1\0a@b.example", 13, 0, -1 },	/* no descriptor */
		{ 'S', "01\0a@b.example", 14, 1, -1 },	/* leading zero */
		{ 'S', "0\0a@b.example", 13, 1, -1 },	/* id 0 */
		{ 'S', "1\0not an address", 16, 1, -1 },
		{ 'S', "1\0a@b.example\0x", 15, 1, -1 },	/* extra field */
		{ 'S', "1\0a@b.example\0mailbox", 21, 1, 0 },
		{ 'S', "1\0a@b.example\0mailbo", 20, 1, -1 },
		{ 'S', "1\0a@b.example\0mailbox\0", 22, 1, -1 },
		{ 'S', "1\0a@b.example\0", 14, 1, -1 },
		{ 'S', "1\0\0mailbox", 10, 1, -1 },	/* no recipient */
		{ 'R', "1\0mailbox", 9, 1, -1 },
		{ 'S', "1", 1, 1, -1 },			/* no recipient */
		{ 'S', "1\0", 2, 1, -1 },
		{ 'R', "9223372036854775807", 19, 1, 0 },
		{ 'R', "9223372036854775808", 19, 1, -1 },	/* > 2^63-1 */
		{ 'R', "18446744073709551616", 20, 1, -1 },
		{ 'R', "5\0", 2, 1, -1 },
		{ 'R', "-5", 2, 1, -1 },
		{ 'R', "", 0, 1, -1 },
		{ 'K', "5", 1, 0, 0 },
		{ 'K', "5", 1, 1, -1 },			/* K with a descriptor */
		{ 'X', "5", 1, 0, -1 },
	};
	struct spawn_req rq;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		ck_assert_msg(spawn_request_decode(c[i].tag, c[i].p, c[i].n,
		    c[i].fd, &rq) == c[i].ok, "case %zu", i);
}
END_TEST

START_TEST(spawn_answers)
{
	static const struct {
		const char *p;
		size_t n;
		int ok;
	} bad[] = {
		{ "5\0exit", 6, -1 },
		{ "5\0exit\0" "256", 10, -1 },
		{ "5\0died\0" "1", 8, -1 },
		{ "0\0exit\0" "0", 8, -1 },
		{ "5\0exit\0" "00", 9, -1 },
		{ "5\0exit\0" "1\0", 9, -1 },
	};
	struct spawn_exit x;
	struct buf b = BUF_INIT;
	const char *pl;
	size_t plen, used, i;
	char tag;

	ck_assert_int_eq(spawn_exit_put(&b, 42, "signal", 9), 0);
	ck_assert_int_eq(frame_decode(b.data, b.len, SPAWN_FRAME_MAX, &tag,
	    &pl, &plen, &used), FRAME_OK);
	ck_assert_int_eq(spawn_exit_decode(tag, pl, plen, &x), 0);
	ck_assert_uint_eq(x.id, 42);
	ck_assert_str_eq(x.how, "signal");
	ck_assert_uint_eq(x.code, 9);
	ck_assert_int_eq(spawn_exit_decode('R', pl, plen, &x), -1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(spawn_exit_decode('X', bad[i].p, bad[i].n, &x) ==
		    bad[i].ok, "case %zu", i);
	buf_free(&b);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("queue_agentproto");
	TCase *t = tcase_create("agent");
	SRunner *r;
	int failed;

	tcase_add_test(t, job_round_trip);
	tcase_add_test(t, bad_jobs);
	tcase_add_test(t, results);
	tcase_add_test(t, bad_results);
	tcase_add_test(t, spawn_requests);
	tcase_add_test(t, spawn_decode);
	tcase_add_test(t, spawn_answers);
	suite_add_tcase(su, t);
	r = srunner_create(su);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed == 0 ? 0 : 1;
}

/*
 * test_bounce_msgsize.c — posthorn-bounce returns exactly the message's
 * first msgsize octets (the envelope's size) of the message file, never
 * what the queue keeps after them: the full original (byte-exact), the
 * headers of a header-only message with RET=HDRS and in a delay notice,
 * the size limit for returned messages judged on the message alone, a
 * file shorter than msgsize refused; and through bounce_job() into a fake
 * queue, the whole notice as injected.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "bounce/dsn.h"
#include "bounce/job.h"
#include "common/frame.h"
#include "common/io.h"

#define MSG	"From: Alice <alice@example.org>\nSubject: lunch\n\nSee you.\n"
#define TRAILER	"X-Trailer: TRAILER-MUST-NOT-APPEAR\n\nmore\n"
#define HEAD3	"Content-Description: Undelivered message\n" \
		"Content-Type: message/rfc822\n" \
		"Content-Transfer-Encoding: 7bit\n\n"
#define HEAD3H	"Content-Description: Undelivered message headers\n" \
		"Content-Type: text/rfc822-headers\n" \
		"Content-Transfer-Encoding: 7bit\n\n"
#define HEAD3D	"Content-Description: Message headers\n" \
		"Content-Type: text/rfc822-headers\n" \
		"Content-Transfer-Encoding: 7bit\n\n"

static int
msgfile(const char *msg, const char *trailer)
{
	char path[] = "/tmp/test_bounce_msgsize.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	ck_assert_int_eq(write(fd, trailer, strlen(trailer)),
	    (ssize_t)strlen(trailer));
	return fd;
}

static int
sink_buf(void *ctx, const void *p, size_t n)
{
	return buf_append(ctx, p, n);
}

struct fixture {
	struct envelope e;
	struct dsn_input in;
	struct dsn_plan plan;
	struct buf out;
	int fd;
};

static void
fx_init(struct fixture *f, enum dsn_kind kind, enum dsn_ret ret,
    const char *msg, const char *trailer)
{
	memset(f, 0, sizeof(*f));
	envelope_init(&f->e);
	ck_assert_int_eq(envelope_set_sender(&f->e, "alice@example.org"), 0);
	ck_assert_int_ge(envelope_add_rcpt(&f->e, "bob@example.net", 0, NULL),
	    0);
	ck_assert_int_eq(envelope_set_str(&f->e.qid, "0005F3A1B2C3D4000042"),
	    0);
	snprintf(f->e.rcpts[0].dsn, sizeof(f->e.rcpts[0].dsn), "%s",
	    kind == DSN_FAILED ? "5.1.1" : "4.2.0");
	f->e.arrival = 1699990000;
	f->e.ret = ret;
	f->fd = msgfile(msg, trailer);
	ck_assert_int_eq(dsn_input_init(&f->in, kind, &f->e, f->fd,
	    strlen(msg), "mx.test", "alice@example.org"), 0);
	snprintf(f->in.boundary, sizeof(f->in.boundary), "BOUNDARY");
	buf_init(&f->out);
}

static void
fx_build(struct fixture *f)
{
	const char *why = NULL;

	ck_assert_msg(dsn_plan(&f->in, &f->plan, &why) == 0, "plan: %s", why);
	ck_assert_msg(dsn_write(&f->in, &f->plan, sink_buf, &f->out, &why) ==
	    0, "write: %s", why);
	ck_assert_ptr_null(memmem(f->out.data, f->out.len, "TRAILER", 7));
	ck_assert_ptr_null(memmem(f->out.data, f->out.len, "more", 4));
}

static void
fx_free(struct fixture *f)
{
	buf_free(&f->out);
	envelope_free(&f->e);
	close(f->fd);
}

/* The third part of the notification, up to the closing delimiter. */
static void
third_part(const struct buf *b, struct buf *p3)
{
	const char *s = b->data, *end;
	int i;

	for (i = 0; i < 3; i++) {
		s = memmem(s, b->len - (size_t)(s - b->data), "\n--BOUNDARY\n",
		    12);
		ck_assert_ptr_nonnull(s);
		s += 12;
	}
	end = memmem(s, b->len - (size_t)(s - b->data), "\n--BOUNDARY--\n",
	    14);
	ck_assert_ptr_nonnull(end);
	ck_assert_ptr_eq(end + 14, b->data + b->len);
	buf_reset(p3);
	buf_append(p3, s, (size_t)(end - s));
}

START_TEST(full_original)
{
	struct fixture f;
	struct buf p3 = BUF_INIT;

	fx_init(&f, DSN_FAILED, RET_DEFAULT, MSG, TRAILER);
	fx_build(&f);
	ck_assert_int_eq(f.plan.orig, DSN_ORIG_FULL);
	ck_assert_uint_eq(f.plan.size, strlen(MSG));
	third_part(&f.out, &p3);
	ck_assert_str_eq(buf_str(&p3), HEAD3 MSG);
	buf_free(&p3);
	fx_free(&f);
}
END_TEST

/* A message without a final newline: the returned copy gets one, and
 * not the trailer's. */
START_TEST(full_original_unterminated)
{
	struct fixture f;
	struct buf p3 = BUF_INIT;

	fx_init(&f, DSN_FAILED, RET_FULL, "Subject: x\n\nno newline",
	    "TRAILER\n");
	fx_build(&f);
	third_part(&f.out, &p3);
	ck_assert_str_eq(buf_str(&p3), HEAD3 "Subject: x\n\nno newline\n");
	buf_free(&p3);
	fx_free(&f);
}
END_TEST

/* A header-only message (no blank line): the header section ends with
 * the message, not inside the trailer. */
START_TEST(headers_only)
{
	struct fixture f;
	struct buf p3 = BUF_INIT;

	fx_init(&f, DSN_FAILED, RET_HDRS, "From: a@example.org\nSubject: x\n",
	    TRAILER);
	fx_build(&f);
	ck_assert_int_eq(f.plan.orig, DSN_ORIG_HEADERS);
	third_part(&f.out, &p3);
	ck_assert_str_eq(buf_str(&p3), HEAD3H
	    "From: a@example.org\nSubject: x\n");
	fx_free(&f);
	fx_init(&f, DSN_DELAYED, RET_DEFAULT, MSG, TRAILER);
	fx_build(&f);
	third_part(&f.out, &p3);
	ck_assert_str_eq(buf_str(&p3), HEAD3D
	    "From: Alice <alice@example.org>\nSubject: lunch\n");
	buf_free(&p3);
	fx_free(&f);
}
END_TEST

/* The limit for returned messages is the message's size, not the
 * file's. */
START_TEST(limit_on_message_size)
{
	struct fixture f;
	struct buf big = BUF_INIT, p3 = BUF_INIT;
	size_t i;

	for (i = 0; i < 200; i++)
		buf_append_str(&big, "TRAILER TRAILER TRAILER TRAILER\n");
	fx_init(&f, DSN_FAILED, RET_DEFAULT, MSG, buf_str(&big));
	f.in.max_original = 1024;
	fx_build(&f);
	ck_assert_int_eq(f.plan.orig, DSN_ORIG_FULL);
	third_part(&f.out, &p3);
	ck_assert_str_eq(buf_str(&p3), HEAD3 MSG);
	buf_free(&p3);
	buf_free(&big);
	fx_free(&f);
}
END_TEST

START_TEST(file_shorter_refused)
{
	struct fixture f;
	const char *why = NULL;

	fx_init(&f, DSN_FAILED, RET_DEFAULT, MSG, "");
	f.in.msgsize = strlen(MSG) + 1;
	ck_assert_int_eq(dsn_plan(&f.in, &f.plan, &why), -1);
	ck_assert_str_eq(why, "original message unreadable");
	fx_free(&f);
}
END_TEST

/* ---- through bounce_job() ----------------------------------------------- */

START_TEST(through_bounce_job)
{
	struct config cfg;
	struct agent_job job;
	struct stream ctl;
	struct buf dsn = BUF_INIT;
	char dir[] = "/tmp/test_bounce_msgsize.XXXXXX", sock[64], out[64];
	char rb[4096];
	ssize_t n;
	uint32_t idx[1] = { 3 };
	const char *orig;
	int sv[2], st;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/q.sock", dir);
	snprintf(out, sizeof(out), "%s/dsn", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = (char *)"mx.example.org";
	cfg.queue_socket = sock;
	cfg.queue_lifetime = 86400;
	cfg.bounce_max_original = 100 * 1024;
	memset(&job, 0, sizeof(job));
	job.kind = JOB_BOUNCE_FAILED;
	job.rcpt_index = idx;
	job.msgfd = msgfile(MSG, TRAILER);
	job.msgsize = strlen(MSG);
	envelope_init(&job.env);
	ck_assert_int_eq(envelope_set_sender(&job.env, "alice@example.org"),
	    0);
	ck_assert_int_ge(envelope_add_rcpt(&job.env, "bob@example.net", 0,
	    NULL), 0);
	snprintf(job.env.rcpts[0].dsn, sizeof(job.env.rcpts[0].dsn), "5.1.1");
	ck_assert_int_eq(envelope_set_str(&job.env.qid,
	    "0123456789ABCDEF0123"), 0);
	job.env.size = strlen(MSG);
	pid = test_fake_queue(sock, out);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(stream_init(&ctl, sv[0], sv[0], 5000), 0);
	ck_assert_int_eq(bounce_job(&cfg, &ctl, &job), 0);
	stream_free(&ctl);
	close(sv[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the notice was queued: result D for index 3 */
	n = io_read_full(sv[1], rb, sizeof(rb), 1000);
	ck_assert_int_gt(n, 0);
	ck_assert_ptr_nonnull(memmem(rb, (size_t)n, "R3\0D\0" "2.0.0", 10));
	ck_assert_int_eq(io_read_file(out, 1024 * 1024, &dsn), 0);
	ck_assert_ptr_null(strstr(buf_str(&dsn), "TRAILER"));
	orig = strstr(buf_str(&dsn), HEAD3);
	ck_assert_ptr_nonnull(orig);
	orig += strlen(HEAD3);
	ck_assert_int_eq(strncmp(orig, MSG "\n--posthorn-dsn-",
	    strlen(MSG) + 16), 0);
	close(sv[1]);
	close(job.msgfd);
	envelope_free(&job.env);
	buf_free(&dsn);
	ck_assert_int_eq(rm_rf(dir), 0);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("bounce_msgsize");
	TCase *t = tcase_create("msgsize");

	tcase_set_timeout(t, 30);
	tcase_add_test(t, full_original);
	tcase_add_test(t, full_original_unterminated);
	tcase_add_test(t, headers_only);
	tcase_add_test(t, limit_on_message_size);
	tcase_add_test(t, file_shorter_refused);
	tcase_add_test(t, through_bounce_job);
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

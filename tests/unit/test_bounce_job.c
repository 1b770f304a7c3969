/*
 * test_bounce_job.c — unit tests for bounce/job.c's privilege rule:
 * started as root, posthorn-bounce becomes "nobody" for good when nobody
 * can still reach the queue socket, and keeps root (saying why) when it
 * cannot; not started as root, nothing changes.  Each test runs in
 * libcheck's forked child, so giving up root there is harmless.  Also:
 * no success notice of ours for a recipient posthorn-remote handed to a
 * server that does DSN (RFC 3461 4.2).
 */
#include <check.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "bounce/job.h"
#include "common/frame.h"
#include "common/io.h"

static char dir[64];
static char sock[96];

/* A listening unix socket in a fresh directory of mode dmode, the socket
 * file of mode smode. */
static int
make_socket(mode_t dmode, mode_t smode)
{
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/ph-bjob.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, dmode), 0);
	snprintf(sock, sizeof(sock), "%s/queue.sock", dir);
	fd = test_listen_unix(sock);
	ck_assert_int_eq(chmod(sock, smode), 0);
	return fd;
}

static void
cleanup(int fd)
{
	close(fd);
	unlink(sock);
	rmdir(dir);
}

START_TEST(test_root_becomes_nobody)
{
	struct passwd *pw = getpwnam(BOUNCE_ROOT_USER);
	const char *why = NULL;
	int fd;

	if (geteuid() != 0 || pw == NULL)
		return;	/* covered by test_not_root below */
	fd = make_socket(0755, 0666);
	/* nobody's own files, so that nobody can clean them up */
	ck_assert_int_eq(chown(dir, pw->pw_uid, pw->pw_gid), 0);
	ck_assert_int_eq(chown(sock, pw->pw_uid, pw->pw_gid), 0);
	ck_assert_int_eq(bounce_drop_root(sock, &why), 0);
	ck_assert_uint_eq(getuid(), pw->pw_uid);
	ck_assert_uint_eq(geteuid(), pw->pw_uid);
	ck_assert_uint_eq(getgid(), pw->pw_gid);
	ck_assert_int_eq(setuid(0), -1);
	ck_assert_int_eq(seteuid(0), -1);
	cleanup(fd);
	ck_assert_int_eq(access(dir, F_OK), -1);
}
END_TEST

START_TEST(test_root_kept_when_socket_closed)
{
	const char *why = NULL;
	int fd;

	if (geteuid() != 0 || getpwnam(BOUNCE_ROOT_USER) == NULL)
		return;
	fd = make_socket(0700, 0600);
	ck_assert_int_eq(bounce_drop_root(sock, &why), 1);
	ck_assert_ptr_nonnull(strstr(why, "cannot reach the queue socket"));
	ck_assert_uint_eq(geteuid(), 0);
	ck_assert_uint_eq(getuid(), 0);
	ck_assert_uint_eq(getegid(), 0);
	cleanup(fd);
}
END_TEST

START_TEST(test_not_root)
{
	const char *why = NULL;
	uid_t u = getuid(), eu = geteuid();

	if (eu == 0)
		return;
	ck_assert_int_eq(bounce_drop_root("/nonexistent/queue.sock", &why), 0);
	ck_assert_uint_eq(getuid(), u);
	ck_assert_uint_eq(geteuid(), eu);
}
END_TEST

/* Read the job's results: status and text per queue index, until Z. */
static void
read_results(int fd, char st[16], char text[16][512])
{
	struct stream s;
	struct buf p = BUF_INIT;
	struct agent_result r;
	const char *why;
	char tag;
	int rc;

	ck_assert_int_eq(stream_init(&s, fd, fd, 5000), 0);
	for (;;) {
		ck_assert_int_eq(frame_read(&s, 8192, &tag, &p), FRAME_OK);
		rc = agent_result_decode(tag, p.data, p.len, &r, &why);
		ck_assert_int_gt(rc, 0);
		if (rc == 2)
			break;
		ck_assert_uint_lt(r.rcpt_index, 16);
		st[r.rcpt_index] = r.status;
		snprintf(text[r.rcpt_index], 512, "%s", r.text);
	}
	buf_free(&p);
	stream_free(&s);
}

START_TEST(test_success_passed_on)
{
	static const char msg[] = "Subject: t\n\nbody\n";
	struct config cfg;
	struct agent_job job;
	struct stream ctl;
	uint32_t idx[2] = { 5, 9 };
	char path[] = "/tmp/ph-bjob-msg.XXXXXX", st[16] = { 0 };
	static char text[16][512];
	int sv[2];

	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = (char *)"mx.example.org";
	cfg.queue_socket = (char *)"/nonexistent/queue.sock";
	cfg.queue_lifetime = 86400;
	cfg.bounce_max_original = 100 * 1024;
	memset(&job, 0, sizeof(job));
	job.kind = JOB_BOUNCE_SUCCESS;
	job.rcpt_index = idx;
	job.msgfd = mkstemp(path);
	ck_assert_int_ge(job.msgfd, 0);
	unlink(path);
	ck_assert_int_eq(write(job.msgfd, msg, sizeof(msg) - 1),
	    (ssize_t)sizeof(msg) - 1);
	job.msgsize = sizeof(msg) - 1;
	envelope_init(&job.env);
	ck_assert_int_eq(envelope_set_sender(&job.env, "s@example.org"), 0);
	ck_assert_int_ge(envelope_add_rcpt(&job.env, "a@example.net",
	    NOTIFY_SUCCESS, NULL), 0);
	ck_assert_int_ge(envelope_add_rcpt(&job.env, "b@example.net",
	    NOTIFY_SUCCESS, NULL), 0);
	ck_assert_int_eq(envelope_set_str(&job.env.qid,
	    "0123456789ABCDEF0123"), 0);
	ck_assert_int_eq(envelope_set_str(&job.env.rcpts[0].diag,
	    AGENT_TEXT_DSN_PASSED "250 2.0.0 ok"), 0);
	ck_assert_int_eq(envelope_set_str(&job.env.rcpts[1].diag,
	    "250 2.0.0 ok"), 0);
	ck_assert_int_eq(envelope_set_str(&job.env.rcpts[0].remote_mta,
	    "mx.example.net[192.0.2.1]:25"), 0);
	ck_assert_int_eq(envelope_set_str(&job.env.rcpts[1].remote_mta,
	    "mx.example.net[192.0.2.1]:25"), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(stream_init(&ctl, sv[0], sv[0], 5000), 0);
	ck_assert_int_eq(bounce_job(&cfg, &ctl, &job), 0);
	stream_free(&ctl);
	read_results(sv[1], st, text);
	/* passed on: done, no notice of ours */
	ck_assert_int_eq(st[5], 'D');
	ck_assert_str_eq(text[5], "the receiving server offered DSN and "
	    "took the success notice over (RFC 3461 4.2)");
	/* not passed on: we owe the notice (the queue is unreachable here) */
	ck_assert_int_eq(st[9], 'T');
	ck_assert_ptr_nonnull(strstr(text[9], "queue unreachable"));
	close(sv[0]);
	close(sv[1]);
	close(job.msgfd);
	envelope_free(&job.env);
}
END_TEST


/* A job of this kind for a message from sender to a@example.net (index
 * 4), failed 5.1.1, and a configuration whose queue socket is sock. */
static void
make_job(struct agent_job *job, struct config *cfg, uint32_t *idx,
    enum agent_kind_of_job kind, const char *sender, const char *qsock)
{
	static const char msg[] = "Subject: t\n\nbody\n";
	char path[] = "/tmp/ph-bjob-msg.XXXXXX";

	memset(cfg, 0, sizeof(*cfg));
	cfg->hostname = (char *)"mx.example.org";
	cfg->queue_socket = (char *)qsock;
	cfg->queue_lifetime = 86400;
	cfg->bounce_max_original = 100 * 1024;
	memset(job, 0, sizeof(*job));
	job->kind = kind;
	*idx = 4;
	job->rcpt_index = idx;
	job->msgfd = mkstemp(path);
	ck_assert_int_ge(job->msgfd, 0);
	unlink(path);
	ck_assert_int_eq(write(job->msgfd, msg, sizeof(msg) - 1),
	    (ssize_t)sizeof(msg) - 1);
	job->msgsize = sizeof(msg) - 1;
	envelope_init(&job->env);
	ck_assert_int_eq(envelope_set_sender(&job->env, sender), 0);
	ck_assert_int_ge(envelope_add_rcpt(&job->env, "a@example.net", 0,
	    NULL), 0);
	snprintf(job->env.rcpts[0].dsn, sizeof(job->env.rcpts[0].dsn),
	    "5.1.1");
	ck_assert_int_eq(envelope_set_str(&job->env.rcpts[0].diag,
	    "550 5.1.1 no such user"), 0);
	ck_assert_int_eq(envelope_set_str(&job->env.qid,
	    "0123456789ABCDEF0123"), 0);
	job->env.size = job->msgsize;
}

/* Run the job; its results by queue index into st/text. */
static void
run_job(const struct config *cfg, struct agent_job *job, char st[16],
    char text[16][512])
{
	struct stream ctl;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(stream_init(&ctl, sv[0], sv[0], 5000), 0);
	ck_assert_int_eq(bounce_job(cfg, &ctl, job), 0);
	stream_free(&ctl);
	read_results(sv[1], st, text);
	close(sv[0]);
	close(sv[1]);
	close(job->msgfd);
	envelope_free(&job->env);
}

/* The failure of a message from <> goes to postmaster from
 * double-bounce@hostname, a sender that survives forwarding. */
START_TEST(test_double_bounce_sender)
{
	struct config cfg;
	struct agent_job job;
	struct envelope ne;
	struct buf enc = BUF_INIT;
	char d[] = "/tmp/ph-bjob-q.XXXXXX", qsock[64], out[64], envf[64];
	char st[16] = { 0 };
	static char text[16][512];
	const char *why;
	uint32_t idx;
	int status;
	pid_t pid;

	ck_assert_ptr_nonnull(mkdtemp(d));
	snprintf(qsock, sizeof(qsock), "%s/q.sock", d);
	snprintf(out, sizeof(out), "%s/notice", d);
	snprintf(envf, sizeof(envf), "%s/notice.env", d);
	make_job(&job, &cfg, &idx, JOB_BOUNCE_FAILED, "", qsock);
	pid = test_fake_queue(qsock, out);
	run_job(&cfg, &job, st, text);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(st[4], 'D');
	ck_assert_int_eq(io_read_file(envf, 65536, &enc), 0);
	envelope_init(&ne);
	ck_assert_int_eq(envelope_decode(enc.data, enc.len, &ne, &why), 0);
	ck_assert_str_eq(ne.sender, "double-bounce@mx.example.org");
	ck_assert_uint_eq(ne.nrcpts, 1);
	ck_assert_str_eq(ne.rcpts[0].addr, "postmaster@mx.example.org");
	ck_assert_str_eq(ne.protocol, "double-bounce");
	envelope_free(&ne);
	buf_free(&enc);
	ck_assert_int_eq(rm_rf(d), 0);
}
END_TEST

/* A notice about mail from the double-bounce address is dropped: such
 * mail is a double bounce that failed after leaving us (an alias or
 * another server forwarded it).  Any kind, any spelling of the case;
 * the queue is never asked (its socket does not exist here). */
START_TEST(test_double_sender_dropped)
{
	static const enum agent_kind_of_job kinds[] = { JOB_BOUNCE_FAILED,
	    JOB_BOUNCE_DELAYED };
	static const char *const senders[] = {
	    "double-bounce@mx.example.org", "Double-Bounce@MX.Example.ORG" };
	struct config cfg;
	struct agent_job job;
	char st[16];
	static char text[16][512];
	uint32_t idx;
	size_t k;

	for (k = 0; k < 4; k++) {
		memset(st, 0, sizeof(st));
		make_job(&job, &cfg, &idx, kinds[k % 2], senders[k / 2],
		    "/nonexistent/queue.sock");
		run_job(&cfg, &job, st, text);
		ck_assert_int_eq(st[4], 'D');
		ck_assert_str_eq(text[4], "no notice to the double-bounce "
		    "address");
	}
	/* another address at our host still gets its notice */
	memset(st, 0, sizeof(st));
	make_job(&job, &cfg, &idx, JOB_BOUNCE_FAILED,
	    "double-bounces@mx.example.org", "/nonexistent/queue.sock");
	run_job(&cfg, &job, st, text);
	ck_assert_int_eq(st[4], 'T');
	ck_assert_ptr_nonnull(strstr(text[4], "queue unreachable"));
}
END_TEST

/* A double bounce is known by its envelope protocol too, whatever its
 * sender: one queued as double-bounce@ an earlier hostname (the
 * configuration changed since) that fails is dropped, not answered with
 * a notice to that address.  The queue is never asked. */
START_TEST(test_double_protocol_dropped)
{
	struct config cfg;
	struct agent_job job;
	char st[16];
	static char text[16][512];
	uint32_t idx;

	memset(st, 0, sizeof(st));
	make_job(&job, &cfg, &idx, JOB_BOUNCE_FAILED,
	    "double-bounce@old-name.example.org", "/nonexistent/queue.sock");
	ck_assert_int_eq(envelope_set_str(&job.env.protocol, "double-bounce"),
	    0);
	run_job(&cfg, &job, st, text);
	ck_assert_int_eq(st[4], 'D');
	ck_assert_str_eq(text[4], "a failed double bounce is dropped");
}
END_TEST

/* The envelope (sender, first recipient) and body of submission k. */
static void
submission(const char *out, int k, const char *sender, const char *rcpt,
    const char *needle)
{
	struct envelope ne;
	struct buf b = BUF_INIT;
	char path[128];
	const char *why;

	snprintf(path, sizeof(path), "%s.%d.env", out, k);
	ck_assert_int_eq(io_read_file(path, 65536, &b), 0);
	envelope_init(&ne);
	ck_assert_int_eq(envelope_decode(b.data, b.len, &ne, &why), 0);
	ck_assert_str_eq(ne.sender, sender);
	ck_assert_str_eq(ne.rcpts[0].addr, rcpt);
	envelope_free(&ne);
	buf_reset(&b);
	snprintf(path, sizeof(path), "%s.%d", out, k);
	ck_assert_int_eq(io_read_file(path, 1 << 20, &b), 0);
	ck_assert_msg(strstr(buf_str(&b), needle) != NULL, "%s lacks %s",
	    path, needle);
	buf_free(&b);
}

/* A failure notice from s@example.org through a fake queue answering
 * codes[0..n); the job's result for index 4 goes to st/text. */
static void
fallback_run(const char *qsock, const char *out, const char *const *codes,
    int n, char st[16], char text[16][512])
{
	struct config cfg;
	struct agent_job job;
	uint32_t idx;
	int status;
	pid_t pid;

	memset(st, 0, 16);
	make_job(&job, &cfg, &idx, JOB_BOUNCE_FAILED, "s@example.org", qsock);
	pid = test_fake_queue_replies(qsock, out, codes, n);
	run_job(&cfg, &job, st, text);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(unlink(qsock), 0);
}

/* A failure notice the queue refuses for good: after 552 once more with
 * the header section alone, then once to postmaster; never just lost. */
START_TEST(test_refused_notice_fallback)
{
	static const char *const sizes[3] = { "552", "552", "250" };
	static const char *const policy[2] = { "554", "250" };
	static const char *const never[2] = { "554", "554" };
	char d[] = "/tmp/ph-bjob-q.XXXXXX", qsock[64], out[64];
	char st[16];
	static char text[16][512];

	ck_assert_ptr_nonnull(mkdtemp(d));
	snprintf(qsock, sizeof(qsock), "%s/q.sock", d);
	snprintf(out, sizeof(out), "%s/notice", d);

	fallback_run(qsock, out, sizes, 3, st, text);
	ck_assert_int_eq(st[4], 'D');
	submission(out, 1, "", "s@example.org", "Content-Type: message/rfc822");
	submission(out, 2, "", "s@example.org",
	    "Content-Type: text/rfc822-headers");
	submission(out, 3, "double-bounce@mx.example.org",
	    "postmaster@mx.example.org", "Content-Type: text/rfc822-headers");

	fallback_run(qsock, out, policy, 2, st, text);
	ck_assert_int_eq(st[4], 'D');
	submission(out, 1, "", "s@example.org", "Content-Type: message/rfc822");
	submission(out, 2, "double-bounce@mx.example.org",
	    "postmaster@mx.example.org", "Content-Type: message/rfc822");

	/* postmaster refused too: nothing more to try */
	fallback_run(qsock, out, never, 2, st, text);
	ck_assert_int_eq(st[4], 'P');
	ck_assert_ptr_nonnull(strstr(text[4], "554"));
	ck_assert_int_eq(rm_rf(d), 0);
}
END_TEST

/* A delay warning is owed per message: while it cannot be queued for the
 * recipients that want it, those that asked for none (NOTIFY=FAILURE)
 * are not reported done either, or the scheduler would count the
 * warning as given. */
START_TEST(test_delay_warning_waits_for_all)
{
	struct config cfg;
	struct agent_job job;
	char st[16] = { 0 };
	static char text[16][512];
	uint32_t idx[2] = { 4, 5 };
	uint32_t one;

	make_job(&job, &cfg, &one, JOB_BOUNCE_DELAYED, "s@example.org",
	    "/nonexistent/queue.sock");
	job.env.rcpts[0].notify = NOTIFY_FAILURE;
	ck_assert_int_ge(envelope_add_rcpt(&job.env, "b@example.net", 0,
	    NULL), 0);
	job.rcpt_index = idx;
	run_job(&cfg, &job, st, text);
	ck_assert_int_eq(st[5], 'T');
	ck_assert_ptr_nonnull(strstr(text[5], "queue unreachable"));
	ck_assert_int_eq(st[4], 'T');
	ck_assert_str_eq(text[4], "the delay notice for the other recipients "
	    "is not queued yet");

	/* failure notices are owed per recipient: no need to wait there */
	memset(st, 0, sizeof(st));
	make_job(&job, &cfg, &one, JOB_BOUNCE_FAILED, "s@example.org",
	    "/nonexistent/queue.sock");
	job.env.rcpts[0].notify = NOTIFY_DELAY;
	ck_assert_int_ge(envelope_add_rcpt(&job.env, "b@example.net", 0,
	    NULL), 0);
	job.rcpt_index = idx;
	run_job(&cfg, &job, st, text);
	ck_assert_int_eq(st[5], 'T');
	ck_assert_int_eq(st[4], 'D');
	ck_assert_str_eq(text[4], "no notice requested (NOTIFY)");
}
END_TEST

static Suite *
job_suite(void)
{
	Suite *s = suite_create("bounce_job");
	TCase *tc = tcase_create("privileges");

	tcase_add_test(tc, test_root_becomes_nobody);
	tcase_add_test(tc, test_root_kept_when_socket_closed);
	tcase_add_test(tc, test_not_root);
	tcase_add_test(tc, test_success_passed_on);
	tcase_add_test(tc, test_double_bounce_sender);
	tcase_add_test(tc, test_double_sender_dropped);
	tcase_add_test(tc, test_double_protocol_dropped);
	tcase_add_test(tc, test_refused_notice_fallback);
	tcase_add_test(tc, test_delay_warning_waits_for_all);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(job_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

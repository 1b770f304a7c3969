/*
 * test_local_msgsize.c — posthorn-local delivers exactly the message's
 * first msgsize octets (the envelope's size) of the message file, never
 * what the queue keeps after them: Maildir, mbox, |program and forwarding
 * through the queue (a fake queue on a unix socket records the octets it
 * is given), each byte-exact through local_deliver() and an alias; the
 * loop check reads no Delivered-To from after the message; a file that
 * ends before msgsize defers instead of delivering a short copy.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "common/frame.h"
#include "common/io.h"
#include "common/table.h"
#include "local/local.h"

#define MSG	"Subject: hi\nFrom: a@b\n\nbody line\nFrom here\n"
#define TRAILER	"TRAILER-MUST-NOT-APPEAR\nDelivered-To: rcpt@example.org\n"
#define PREFIX	"Return-Path: <sender@example.net>\n" \
		"Delivered-To: rcpt@example.org\n"

static char tmpdir[PATH_MAX];
static struct config cfg;
static struct local_tables tabs;
static struct lctx ctx;

static const char *
tp(const char *name)
{
	static char p[4][PATH_MAX + 64];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
	return p[k];
}

static void
slurp(const char *path, struct buf *b)
{
	buf_reset(b);
	ck_assert_int_eq(io_read_file(path, 1024 * 1024, b), 0);
}

/* The message file: msg, then trailer; ctx.msgsize = strlen(msg). */
static void
set_message(const char *msg, const char *trailer)
{
	char path[PATH_MAX + 64];

	if (ctx.msgfd >= 0)
		close(ctx.msgfd);
	snprintf(path, sizeof(path), "%s/msg.XXXXXX", tmpdir);
	ctx.msgfd = mkstemp(path);
	ck_assert_int_ge(ctx.msgfd, 0);
	unlink(path);
	ck_assert_int_eq(write(ctx.msgfd, msg, strlen(msg)),
	    (ssize_t)strlen(msg));
	ck_assert_int_eq(write(ctx.msgfd, trailer, strlen(trailer)),
	    (ssize_t)strlen(trailer));
	ctx.msgsize = strlen(msg);
}

static void
setup(void)
{
	struct buf err = BUF_INIT;
	FILE *f;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_local_msgsize.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	f = fopen(tp("aliases"), "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "md: %s/md/\n"
	    "mb: %s/mbox\n"
	    "pg: \"|cat > %s/prog.out\"\n"
	    "fw: someone@remote.example\n"
	    "own: \\own, someone@remote.example\n"
	    "selfref: selfref, someone@remote.example\n"
	    "outer: selfref\n", tmpdir, tmpdir, tmpdir);
	fclose(f);
	memset(&cfg, 0, sizeof(cfg));
	cfg.aliases = strdup(tp("aliases"));
	cfg.hostname = strdup("mail.example.org");
	strlist_add(&cfg.local_domains, "example.org");
	cfg.queue_socket = strdup(tp("queue.sock"));
	cfg.lock_timeout = 2;
	cfg.local_program_timeout = 5;
	cfg.mail_spool_dir = strdup(tmpdir);
	cfg.recipient_delimiter = '+';
	cfg.local_case_insensitive = true;
	ck_assert_int_eq(local_tables_load(&cfg, &tabs, &err), 0);
	buf_free(&err);
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = &cfg;
	ctx.tabs = &tabs;
	ctx.qid = "0123456789ABCDEF0123";
	ctx.sender = "sender@example.net";
	ctx.msgfd = -1;
	set_message(MSG, TRAILER);
}

static void
teardown(void)
{
	close(ctx.msgfd);
	ctx.msgfd = -1;
	local_tables_free(&tabs);
	free(cfg.aliases);
	free(cfg.hostname);
	free(cfg.queue_socket);
	free(cfg.mail_spool_dir);
	strlist_free(&cfg.local_domains);
	ck_assert_int_eq(rm_rf(tmpdir), 0);
}

/* Deliver to rcpt@example.org through local_deliver(). */
static void
deliver(const char *rcpt, struct lresult *r)
{
	ctx.rcpt = rcpt;
	local_deliver(&ctx, r);
}

START_TEST(test_maildir)
{
	struct lresult r;
	struct buf b = BUF_INIT;
	char path[PATH_MAX + 300];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	deliver("md@example.org", &r);
	ck_assert_msg(r.status == 'D', "%c %s %s", r.status, r.dsn, r.text);
	dir = opendir(tp("md/new"));
	ck_assert_ptr_nonnull(dir);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/md/new/%s", tmpdir, d->d_name);
		slurp(path, &b);
	}
	closedir(dir);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(buf_str(&b), "Return-Path: <sender@example.net>\n"
	    "Delivered-To: md@example.org\n" MSG);
	buf_free(&b);
}
END_TEST

START_TEST(test_mbox)
{
	struct lresult r;
	struct buf b = BUF_INIT;
	const char *s, *nl;

	deliver("mb@example.org", &r);
	ck_assert_msg(r.status == 'D', "%c %s %s", r.status, r.dsn, r.text);
	slurp(tp("mbox"), &b);
	s = buf_str(&b);
	ck_assert_int_eq(strncmp(s, "From sender@example.net ", 24), 0);
	nl = strchr(s, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_str_eq(nl + 1, "Return-Path: <sender@example.net>\n"
	    "Delivered-To: mb@example.org\n"
	    "Subject: hi\nFrom: a@b\n\nbody line\n>From here\n\n");
	buf_free(&b);
}
END_TEST

START_TEST(test_program)
{
	struct lresult r;
	struct buf b = BUF_INIT;

	deliver("pg@example.org", &r);
	ck_assert_msg(r.status == 'D', "%c %s %s", r.status, r.dsn, r.text);
	slurp(tp("prog.out"), &b);
	ck_assert_str_eq(buf_str(&b), "Return-Path: <sender@example.net>\n"
	    "Delivered-To: pg@example.org\n" MSG);
	buf_free(&b);
}
END_TEST

START_TEST(test_forward)
{
	struct lresult r;
	struct buf b = BUF_INIT;
	pid_t pid;
	int st;

	pid = test_fake_queue(tp("queue.sock"), tp("queued"));
	deliver("fw@example.org", &r);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_msg(r.status == 'D', "%c %s %s", r.status, r.dsn, r.text);
	slurp(tp("queued"), &b);
	ck_assert_str_eq(buf_str(&b), "Delivered-To: fw@example.org\n" MSG);
	buf_free(&b);
}
END_TEST

/* The envelope of the forwarded copy (the fake queue's out.env). */
static void
forwarded_env(struct envelope *e)
{
	struct buf b = BUF_INIT;
	const char *why = "";

	slurp(tp("queued.env"), &b);
	envelope_init(e);
	ck_assert_msg(envelope_decode(b.data, b.len, e, &why) == 0, "%s", why);
	buf_free(&b);
}

static void
forward_rcpt(const char *rcpt)
{
	struct lresult r;
	pid_t pid;
	int st;

	(void)unlink(tp("queue.sock"));
	pid = test_fake_queue(tp("queue.sock"), tp("queued"));
	deliver(rcpt, &r);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(r.status == 'D', "%c %s %s", r.status, r.dsn, r.text);
}

static void
forward_once(void)
{
	forward_rcpt("fw@example.org");
}

/* "\\own" in an alias, and an alias naming itself in its own value
 * (also when reached through another alias), go back to the queue marked
 * for that user's own mailbox; the other addresses plain.  Delivered with
 * the mark, the recipient skips aliases (and the loop check: the copy
 * has the alias's own Delivered-To): "own" is no user here, so 5.1.1,
 * neither 5.4.6 nor another forward. */
START_TEST(test_alias_own_mailbox)
{
	static const char *const rcpts[][2] = {
		{ "own@example.org", "own@example.org" },
		{ "selfref@example.org", "selfref@example.org" },
		{ "outer@example.org", "selfref@example.org" },
	};
	struct envelope e;
	struct lresult r;
	size_t i;

	for (i = 0; i < 3; i++) {
		forward_rcpt(rcpts[i][0]);
		forwarded_env(&e);
		ck_assert_int_eq(e.nrcpts, 2);
		ck_assert_str_eq(e.rcpts[0].addr, rcpts[i][1]);
		ck_assert(e.rcpts[0].own_mailbox);
		ck_assert_str_eq(e.rcpts[1].addr, "someone@remote.example");
		ck_assert(!e.rcpts[1].own_mailbox);
		envelope_free(&e);
	}
	set_message("Delivered-To: own@example.org\nSubject: x\n\nhi\n", "");
	ctx.own_mailbox = true;
	deliver("own@example.org", &r);
	ck_assert_msg(r.status == 'P' && strcmp(r.dsn, "5.1.1") == 0,
	    "%c %s %s", r.status, r.dsn, r.text);
	/* md is an alias (to a Maildir): not for a marked recipient */
	deliver("md@example.org", &r);
	ck_assert_msg(r.status == 'P' && strcmp(r.dsn, "5.1.1") == 0,
	    "%c %s %s", r.status, r.dsn, r.text);
	ctx.own_mailbox = false;
	deliver("own@example.org", &r);
	ck_assert_msg(r.status == 'P' && strcmp(r.dsn, "5.4.6") == 0,
	    "%c %s %s", r.status, r.dsn, r.text);
}
END_TEST

/* RFC 3461 6.2.7: a forwarded copy keeps RET, ENVID and ORCPT (made
 * from the recipient when there was none) and NOTIFY without SUCCESS,
 * whose notice is ours (NOTIFY=SUCCESS alone becomes NEVER). */
START_TEST(test_forward_keeps_dsn)
{
	struct envelope e;

	ctx.notify = NOTIFY_SUCCESS | NOTIFY_FAILURE;
	ctx.ret = RET_HDRS;
	ctx.envid = "env-42";
	forward_once();
	forwarded_env(&e);
	ck_assert_int_eq(e.nrcpts, 1);
	ck_assert_str_eq(e.rcpts[0].addr, "someone@remote.example");
	ck_assert_uint_eq(e.rcpts[0].notify, NOTIFY_FAILURE);
	ck_assert_str_eq(e.rcpts[0].orcpt, "rfc822;fw@example.org");
	ck_assert_int_eq(e.ret, RET_HDRS);
	ck_assert_str_eq(e.envid, "env-42");
	envelope_free(&e);

	ctx.notify = NOTIFY_SUCCESS;
	ctx.orcpt = "rfc822;first+2Bx@example.net";
	forward_once();
	forwarded_env(&e);
	ck_assert_uint_eq(e.rcpts[0].notify, NOTIFY_NEVER);
	ck_assert_str_eq(e.rcpts[0].orcpt, "rfc822;first+2Bx@example.net");
	envelope_free(&e);

	ctx.notify = 0;		/* not given: the default stays */
	ctx.orcpt = NULL;
	ctx.ret = RET_DEFAULT;
	ctx.envid = NULL;
	forward_once();
	forwarded_env(&e);
	ck_assert_uint_eq(e.rcpts[0].notify, 0);
	ck_assert_int_eq(e.ret, RET_DEFAULT);
	ck_assert_ptr_null(e.envid);
	envelope_free(&e);
}
END_TEST

/* A header-only message (no blank line): the loop check reads to the
 * end of the message, and the Delivered-To after it is not the
 * message's. */
START_TEST(test_loop_check_stops_at_msgsize)
{
	struct lresult r;
	struct buf b = BUF_INIT;

	set_message("Subject: no body\n", "Delivered-To: pg@example.org\n");
	ck_assert_int_eq(msg_loop_check(ctx.msgfd, ctx.msgsize,
	    "pg@example.org"), 0);
	deliver("pg@example.org", &r);
	ck_assert_msg(r.status == 'D', "%c %s %s", r.status, r.dsn, r.text);
	slurp(tp("prog.out"), &b);
	ck_assert_str_eq(buf_str(&b), "Return-Path: <sender@example.net>\n"
	    "Delivered-To: pg@example.org\nSubject: no body\n");
	/* inside the message it is a loop */
	set_message("Subject: x\nDelivered-To: pg@example.org\n", "");
	deliver("pg@example.org", &r);
	ck_assert_int_eq(r.status, 'P');
	ck_assert_str_eq(r.dsn, "5.4.6");
	buf_free(&b);
}
END_TEST

/* The file ends before msgsize (it cannot, after agent_job_read; but a
 * reader must never deliver a short copy): temporary failure, nothing
 * delivered, the mbox left as it was. */
START_TEST(test_file_shorter_defers)
{
	struct lresult r;
	struct stat st;

	set_message(MSG, "");
	ctx.msgsize = strlen(MSG) + 10;
	deliver("mb@example.org", &r);
	ck_assert_msg(r.status == 'T', "%c %s %s", r.status, r.dsn, r.text);
	ck_assert_int_eq(stat(tp("mbox"), &st), 0);
	ck_assert_int_eq(st.st_size, 0);	/* truncated back */
	deliver("md@example.org", &r);
	ck_assert_msg(r.status == 'T', "%c %s %s", r.status, r.dsn, r.text);
	ck_assert_int_eq(rmdir(tp("md/new")), 0);	/* nothing in new/ */
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("local_msgsize");
	TCase *tc = tcase_create("msgsize");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_maildir);
	tcase_add_test(tc, test_mbox);
	tcase_add_test(tc, test_program);
	tcase_add_test(tc, test_forward);
	tcase_add_test(tc, test_forward_keeps_dsn);
	tcase_add_test(tc, test_alias_own_mailbox);
	tcase_add_test(tc, test_loop_check_stops_at_msgsize);
	tcase_add_test(tc, test_file_shorter_defers);
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
	return failed == 0 ? 0 : 1;
}

/*
 * test_queue_inject.c — who posthorn-queue believes about where a message
 * came from (queue/inject.c identity_trusted(), identity_relabel()): the
 * trusted uids (root, our own, posthorn-smtpd, posthorn-bounce; not
 * alias_user)
 * keep the client address, HELO, AUTH identity and protocol they send;
 * any other uid gets exactly sendmail's local label, with the replaced
 * fields reported, and a plain local SMTP session (sendmail -bs)
 * told apart from a claim.  Then through inject_serve() on a socketpair
 * into a temporary spool: the stored envelope, the log line, and its
 * priority in the journal (notice for a claim, info for sendmail -bs).
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "common/frame.h"
#include "common/log.h"
#include "queue/queue.h"
#include "queue/spool.h"
#include "tests/unit/testutil.h"

#define ALIAS_UID	4101
#define SMTPD_UID	4102
#define BOUNCE_UID	4103
#define STRANGER	4104

static void
opts(struct inject_opts *o, int64_t peer)
{
	memset(o, 0, sizeof(*o));
	o->peer_uid = peer;
	o->alias_uid = ALIAS_UID;
	o->smtpd_uid = SMTPD_UID;
	o->bounce_uid = BOUNCE_UID;
	o->max_message_size = 1000000;
	o->max_recipients = 100;
	o->timeout_ms = 5000;
}

/* An envelope claiming everything; NULL leaves a field out. */
static void
claim(struct envelope *e, const char *client, const char *helo,
    const char *auth, const char *protocol)
{
	envelope_init(e);
	ck_assert_int_eq(envelope_set_sender(e, "a@example.org"), 0);
	ck_assert_int_ge(envelope_add_rcpt(e, "b@example.org", 0, NULL), 0);
	ck_assert_int_eq(envelope_set_str(&e->client_addr, client), 0);
	ck_assert_int_eq(envelope_set_str(&e->client_helo, helo), 0);
	ck_assert_int_eq(envelope_set_str(&e->auth, auth), 0);
	ck_assert_int_eq(envelope_set_str(&e->protocol, protocol), 0);
}

static void
assert_local_label(const struct envelope *e)
{
	ck_assert_ptr_nonnull(e->client_addr);
	ck_assert_str_eq(e->client_addr, "local");
	ck_assert_ptr_null(e->client_helo);
	ck_assert_ptr_null(e->auth);
	ck_assert_ptr_nonnull(e->protocol);
	ck_assert_str_eq(e->protocol, "local");
}

/* Relabel e's claims from o's uid: the fields reported replaced and the
 * local-session verdict are as wanted, and e ends with exactly the local
 * label.  Frees e. */
static void
relabel_to_local(const struct inject_opts *o, struct envelope *e,
    unsigned want_replaced, bool want_local_session)
{
	unsigned replaced = 99;
	bool local_session = !want_local_session;

	ck_assert_int_eq(identity_relabel(o, e, &replaced, &local_session), 0);
	ck_assert_uint_eq(replaced, want_replaced);
	ck_assert(local_session == want_local_session);
	assert_local_label(e);
	envelope_free(e);
}

START_TEST(trusted_uids)
{
	struct inject_opts o;
	const int64_t yes[] = { 0, (int64_t)geteuid(), SMTPD_UID, BOUNCE_UID };
	const int64_t no[] = { STRANGER, ALIAS_UID, 1, 65534, -1 };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		opts(&o, yes[i]);
		ck_assert_msg(identity_trusted(&o), "uid %lld",
		    (long long)yes[i]);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (no[i] == (int64_t)geteuid())
			continue;
		opts(&o, no[i]);
		ck_assert_msg(!identity_trusted(&o), "uid %lld",
		    (long long)no[i]);
	}
	/* unknown (-1) smtpd, bounce and alias uids trust nobody extra,
	 * not even a peer whose uid is unknown too */
	opts(&o, -1);
	o.alias_uid = o.smtpd_uid = o.bounce_uid = -1;
	ck_assert(!identity_trusted(&o));
	opts(&o, SMTPD_UID);
	o.smtpd_uid = -1;
	ck_assert(!identity_trusted(&o));
}
END_TEST

/* The brief's attack: a remote address, a HELO, an AUTH identity and
 * "double-bounce" (which would suppress the user's own bounce). */
START_TEST(stranger_gets_local_label)
{
	struct inject_opts o;
	struct envelope e;
	unsigned replaced = 99;
	bool local_session = true;

	opts(&o, STRANGER);
	claim(&e, "192.0.2.66", "mx.example.net", "alice", "double-bounce");
	ck_assert_int_eq(identity_relabel(&o, &e, &replaced, &local_session),
	    0);
	ck_assert_uint_eq(replaced, CLIENT_FIELD_ADDR | CLIENT_FIELD_HELO |
	    CLIENT_FIELD_AUTH | CLIENT_FIELD_PROTOCOL);
	ck_assert(!local_session);
	assert_local_label(&e);
	/* everything else is left as it was */
	ck_assert_str_eq(e.sender, "a@example.org");
	ck_assert_uint_eq(e.nrcpts, 1);
	envelope_free(&e);

	/* one field is enough to count */
	claim(&e, "local", NULL, NULL, "double-bounce");
	relabel_to_local(&o, &e, CLIENT_FIELD_PROTOCOL, false);
	claim(&e, "local", NULL, "bob", "local");
	relabel_to_local(&o, &e, CLIENT_FIELD_AUTH, false);
}
END_TEST

/* What sendmail and posthorn-local's forwarding send is the label: kept,
 * nothing reported; fields left out are filled in, silently. */
START_TEST(local_label_unchanged)
{
	struct inject_opts o;
	struct envelope e;

	opts(&o, STRANGER);
	claim(&e, "local", NULL, NULL, "local");
	relabel_to_local(&o, &e, 0, true);
	claim(&e, NULL, NULL, NULL, NULL);
	relabel_to_local(&o, &e, 0, true);
}
END_TEST

/* sendmail -bs by an ordinary user: posthorn-smtpd --local runs as that
 * user and sends client "local", its HELO and an SMTP protocol name.
 * Labelled local like any submission of that user, but no attempt at
 * anything: local_session.  With AUTH, or an authenticated protocol
 * name, it is a claim. */
START_TEST(local_smtp_session)
{
	static const char *const plain[] = { "SMTP", "ESMTP", "ESMTPS",
		"UTF8SMTP", "UTF8SMTPS" };
	static const char *const claims[] = { "ESMTPA", "ESMTPSA",
		"UTF8SMTPA", "UTF8SMTPSA", "bounce", "double-bounce", "esmtp",
		"ESMTP ", "ESMTPSX", "", "loca", "localx", "LOCAL" };
	struct inject_opts o;
	struct envelope e;
	unsigned replaced;
	bool local_session;
	size_t i;

	opts(&o, STRANGER);
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		claim(&e, "local", "client.example", NULL, plain[i]);
		ck_assert_int_eq(identity_relabel(&o, &e, &replaced,
		    &local_session), 0);
		ck_assert_uint_eq(replaced, CLIENT_FIELD_HELO |
		    CLIENT_FIELD_PROTOCOL);
		ck_assert_msg(local_session, "%s", plain[i]);
		assert_local_label(&e);
		envelope_free(&e);
	}
	for (i = 0; i < sizeof(claims) / sizeof(claims[0]); i++) {
		claim(&e, "local", "client.example", NULL, claims[i]);
		ck_assert_int_eq(identity_relabel(&o, &e, &replaced,
		    &local_session), 0);
		ck_assert_uint_eq(replaced, CLIENT_FIELD_HELO |
		    CLIENT_FIELD_PROTOCOL);
		ck_assert_msg(!local_session, "%s", claims[i]);
		assert_local_label(&e);
		envelope_free(&e);
	}
	/* ESMTP from a claimed network address is no local session */
	claim(&e, "127.0.0.1", "client.example", NULL, "ESMTP");
	ck_assert_int_eq(identity_relabel(&o, &e, &replaced, &local_session),
	    0);
	ck_assert_uint_eq(replaced, CLIENT_FIELD_ADDR | CLIENT_FIELD_HELO |
	    CLIENT_FIELD_PROTOCOL);
	ck_assert(!local_session);
	envelope_free(&e);
	claim(&e, "local", "client.example", "alice", "ESMTP");
	ck_assert_int_eq(identity_relabel(&o, &e, &replaced, &local_session),
	    0);
	ck_assert(!local_session);
	envelope_free(&e);
}
END_TEST

/* posthorn-smtpd, posthorn-bounce, root, ourselves: what
 * they send stays, byte for byte. */
START_TEST(trusted_keep_fields)
{
	const int64_t uids[] = { 0, (int64_t)geteuid(), SMTPD_UID,
		BOUNCE_UID };
	struct inject_opts o;
	struct envelope e;
	unsigned replaced;
	bool local_session;
	size_t i;

	for (i = 0; i < sizeof(uids) / sizeof(uids[0]); i++) {
		opts(&o, uids[i]);
		claim(&e, "192.0.2.1", "mx.example.net", "alice", "ESMTPSA");
		ck_assert_int_eq(identity_relabel(&o, &e, &replaced,
		    &local_session), 0);
		ck_assert_uint_eq(replaced, 0);
		ck_assert_str_eq(e.client_addr, "192.0.2.1");
		ck_assert_str_eq(e.client_helo, "mx.example.net");
		ck_assert_str_eq(e.auth, "alice");
		ck_assert_str_eq(e.protocol, "ESMTPSA");
		envelope_free(&e);
	}
	opts(&o, BOUNCE_UID);
	claim(&e, "local", NULL, NULL, "double-bounce");
	ck_assert_int_eq(identity_relabel(&o, &e, &replaced, &local_session),
	    0);
	ck_assert_uint_eq(replaced, 0);
	ck_assert_str_eq(e.protocol, "double-bounce");
	envelope_free(&e);
}
END_TEST

/* ---- through inject_serve() ---------------------------------------- */

static char spool[64];

/* Submit e with body "hi\n" as peer uid `peer` to inject_serve() on a
 * socketpair (the whole request fits the socket buffer; the reply too),
 * with stderr in logfd.  Returns the verdict frame's payload in reply. */
static void
submit(int64_t peer, const struct envelope *e, int logfd, struct buf *reply)
{
	struct inject_opts o;
	struct buf req = BUF_INIT, env = BUF_INIT, p = BUF_INIT;
	struct stream s;
	int sv[2], saved;
	char tag;

	opts(&o, peer);
	o.spool = spool;
	ck_assert_int_eq(envelope_encode(e, &env), 0);
	ck_assert_int_eq(frame_put(&req, 'E', env.data, env.len), 0);
	ck_assert_int_eq(frame_put(&req, 'M', "hi\n", 3), 0);
	ck_assert_int_eq(frame_put(&req, '.', "", 0), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(write(sv[0], req.data, req.len), (ssize_t)req.len);
	ck_assert_int_eq(shutdown(sv[0], SHUT_WR), 0);
	fflush(stderr);
	saved = dup(2);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(logfd, 2), 2);
	ck_assert_int_eq(inject_serve(&o, sv[1], sv[1]), 0);
	fflush(stderr);
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	close(sv[1]);
	ck_assert_int_eq(stream_init(&s, sv[0], sv[0], 5000), 0);
	ck_assert_int_eq(frame_read(&s, 8192, &tag, &p), FRAME_OK);
	ck_assert_int_eq(tag, 'R');
	buf_reset(reply);
	buf_append(reply, p.data, p.len);
	stream_free(&s);
	close(sv[0]);
	buf_free(&p);
	buf_free(&req);
	buf_free(&env);
}

/* The queue id of a "250\0002.0.0\0queued\0QID" verdict. */
static const char *
verdict_qid(const struct buf *r)
{
	ck_assert_uint_ge(r->len, 15);
	ck_assert_int_eq(memcmp(r->data, "250\0" "2.0.0\0" "queued\0", 17), 0);
	return r->data + 17;
}

/* submit() e (then free it), which must be queued: its queue id in qid. */
static void
submit_queued(int64_t peer, struct envelope *e, int logfd, char *qid,
    size_t qidsz)
{
	struct buf reply = BUF_INIT;

	submit(peer, e, logfd, &reply);
	snprintf(qid, qidsz, "%s", verdict_qid(&reply));
	buf_free(&reply);
	envelope_free(e);
}

static void
stored(const char *qid, struct spool_rec *rec)
{
	const char *why = "";

	spool_rec_init(rec);
	ck_assert_msg(spool_state_load(spool, qid, true, rec, &why) == 0,
	    "%s", why);
}

static void
logged(int fd, char *out, size_t outsz)
{
	ssize_t n = pread(fd, out, outsz - 1, 0);

	ck_assert_int_ge(n, 0);
	out[n] = '\0';
}

/* Empty the captured log (and write from its start again: no hole of
 * NULs would hide what follows). */
static void
log_reset(int fd)
{
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
}

START_TEST(served_untrusted)
{
	struct envelope e;
	struct spool_rec rec;
	char logpath[] = "/tmp/test_queue_inject.log.XXXXXX";
	char log[4096], want[512];
	char qid[64];
	int logfd;

	snprintf(spool, sizeof(spool), "/tmp/test_queue_inject.%ld",
	    (long)getpid());
	ck_assert_int_eq(spool_mkdirs(spool), 0);
	logfd = mkstemp(logpath);
	ck_assert_int_ge(logfd, 0);
	unlink(logpath);
	unsetenv("JOURNAL_STREAM");
	log_init("posthorn-queue");

	/* a stranger claims all four */
	claim(&e, "192.0.2.66", "mx.example.net", "alice", "double-bounce");
	submit_queued(STRANGER, &e, logfd, qid, sizeof(qid));
	stored(qid, &rec);
	assert_local_label(&rec.env);
	ck_assert_int_eq(rec.env.uid, STRANGER);
	spool_rec_free(&rec);
	logged(logfd, log, sizeof(log));
	snprintf(want, sizeof(want), "posthorn-queue[%ld]: "
	    "event=untrusted_fields qid=%s uid=%d "
	    "fields=client,helo,auth,protocol "
	    "action=\"replaced by the local label\"\n", (long)getpid(), qid,
	    STRANGER);
	ck_assert_msg(strstr(log, want) != NULL, "log: %s", log);
	log_reset(logfd);

	/* sendmail's envelope from the same stranger: stored as sent,
	 * nothing logged but the queued line */
	claim(&e, "local", NULL, NULL, "local");
	submit_queued(STRANGER, &e, logfd, qid, sizeof(qid));
	stored(qid, &rec);
	assert_local_label(&rec.env);
	spool_rec_free(&rec);
	logged(logfd, log, sizeof(log));
	ck_assert_msg(strstr(log, "untrusted_fields") == NULL, "log: %s", log);
	snprintf(want, sizeof(want), "event=queued qid=%s from=<a@example.org>"
	    " size=3 nrcpt=1 uid=%d client=local protocol=local\n", qid,
	    STRANGER);
	ck_assert_msg(strstr(log, want) != NULL, "log: %s", log);
	log_reset(logfd);

	/* posthorn-smtpd's uid: the session's facts are kept */
	claim(&e, "192.0.2.1", "mx.example.net", "alice", "ESMTPSA");
	submit_queued(SMTPD_UID, &e, logfd, qid, sizeof(qid));
	stored(qid, &rec);
	ck_assert_str_eq(rec.env.client_addr, "192.0.2.1");
	ck_assert_str_eq(rec.env.client_helo, "mx.example.net");
	ck_assert_str_eq(rec.env.auth, "alice");
	ck_assert_str_eq(rec.env.protocol, "ESMTPSA");
	spool_rec_free(&rec);
	logged(logfd, log, sizeof(log));
	ck_assert_msg(strstr(log, "untrusted_fields") == NULL, "log: %s", log);
	snprintf(want, sizeof(want), "event=queued qid=%s from=<a@example.org>"
	    " size=3 nrcpt=1 uid=%d client=192.0.2.1 protocol=ESMTPSA\n", qid,
	    SMTPD_UID);
	ck_assert_msg(strstr(log, want) != NULL, "log: %s", log);

	close(logfd);
	ck_assert_int_eq(rm_rf(spool), 0);
}
END_TEST

/* The journal's view (common/log.h log_journal_send): an attempt is a
 * notice (PRIORITY=5), a plain sendmail -bs session only information
 * (PRIORITY=6). */
static struct buf jseen = BUF_INIT;

static int
fake_journal(const struct iovec *iov, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		buf_append(&jseen, iov[i].iov_base, iov[i].iov_len);
		buf_append_char(&jseen, '|');
	}
	return 0;
}

START_TEST(served_log_priority)
{
	struct envelope e;
	struct buf want = BUF_INIT;
	char logpath[] = "/tmp/test_queue_inject.log.XXXXXX";
	char v[64], qid[64];
	struct stat st;
	int logfd;

	snprintf(spool, sizeof(spool), "/tmp/test_queue_inject.%ld",
	    (long)getpid());
	ck_assert_int_eq(spool_mkdirs(spool), 0);
	logfd = mkstemp(logpath);
	ck_assert_int_ge(logfd, 0);
	unlink(logpath);
	/* stderr is the journal's stream: lines go to log_journal_send */
	ck_assert_int_eq(fstat(logfd, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	ck_assert_int_eq(dup2(logfd, 2), 2);
	setenv("JOURNAL_STREAM", v, 1);
	log_journal_send = fake_journal;
	log_init("posthorn-queue");

	claim(&e, "192.0.2.66", "mx.example.net", "alice", "double-bounce");
	submit_queued(STRANGER, &e, logfd, qid, sizeof(qid));
	buf_printf(&want, "|PRIORITY=5|SYSLOG_IDENTIFIER=posthorn-queue|"
	    "EVENT=untrusted_fields|QID=%s|UID=%d|"
	    "FIELDS=client,helo,auth,protocol|"
	    "ACTION=replaced by the local label|", qid, STRANGER);
	ck_assert_msg(strstr(buf_str(&jseen), buf_str(&want)) != NULL,
	    "journal: %s", buf_str(&jseen));
	buf_reset(&jseen);
	buf_reset(&want);

	claim(&e, "local", "client.example", NULL, "ESMTP");
	submit_queued(STRANGER, &e, logfd, qid, sizeof(qid));
	buf_printf(&want, "|PRIORITY=6|SYSLOG_IDENTIFIER=posthorn-queue|"
	    "EVENT=untrusted_fields|QID=%s|UID=%d|FIELDS=helo,protocol|"
	    "ACTION=replaced by the local label|", qid, STRANGER);
	ck_assert_msg(strstr(buf_str(&jseen), buf_str(&want)) != NULL,
	    "journal: %s", buf_str(&jseen));

	close(logfd);
	buf_free(&want);
	buf_free(&jseen);
	ck_assert_int_eq(rm_rf(spool), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("queue_inject");
	TCase *t = tcase_create("identity");
	SRunner *r;
	int failed;

	tcase_add_test(t, trusted_uids);
	tcase_add_test(t, stranger_gets_local_label);
	tcase_add_test(t, local_label_unchanged);
	tcase_add_test(t, local_smtp_session);
	tcase_add_test(t, trusted_keep_fields);
	tcase_add_test(t, served_untrusted);
	tcase_add_test(t, served_log_priority);
	suite_add_tcase(s, t);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed == 0 ? 0 : 1;
}

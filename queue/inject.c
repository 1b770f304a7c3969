/*
 * inject.c — posthorn-queue's side of the injection protocol
 * (queue/PROTOCOL.md §1): receive an envelope and a message and write them
 * durably into the spool (queue/SPOOL.md "Injection"), answer flush and
 * listing requests, and pass removal requests from root or the spool's
 * owner on to the scheduler.
 *
 * Trusts: nothing the client sends; only its uid (SO_PEERCRED) decides
 * what it may claim.  Frames are size-limited, the envelope is
 * re-validated by envelope_decode, the client's claims about qid, uid,
 * arrival, size and delivery state are overwritten, its client address,
 * HELO, AUTH identity and protocol too unless it is one of posthorn's own
 * submitters (identity_trusted()), and the message octets are only
 * counted and stored.  The message and its first record go
 * into one file, incoming/QID; 250 is sent only after fsync of
 * incoming/ (right after the file's creation) and of that file; every
 * failure path unlinks what it created.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/frame.h"
#include "common/io.h"
#include "common/log.h"
#include "common/qid.h"
#include "queue/queue.h"
#include "queue/spool.h"

#define DATA_MAX	(65536 + 1)
#define SMALL_MAX	8192
#define LIST_MAX	100000	/* messages listed at most */

struct verdict {
	int code;
	const char *dsn;
	const char *text;
};

struct inj {
	const struct inject_opts *o;
	struct stream s;
	char qid[QID_LEN + 1];
	char path[4096];	/* incoming/QID */
	int msgfd;
	bool name_durable;	/* incoming/ was fsync'd after its creation */
	uint64_t size;
	struct verdict v;	/* first error; code 0 = none yet */
};

static int
reply(struct inj *j, int code, const char *dsn, const char *text,
    const char *qid)
{
	struct buf out = BUF_INIT;
	char c[8];
	const char *f[4];
	int r;

	snprintf(c, sizeof(c), "%d", code);
	f[0] = c;
	f[1] = dsn;
	f[2] = text;
	f[3] = qid;
	r = frame_put_fields(&out, 'R', f, 4);
	if (r == 0)
		r = stream_write(&j->s, out.data, out.len);
	if (r == 0)
		r = stream_flush(&j->s);
	buf_free(&out);
	return r;
}

/* Frame A: tell the client the id its message gets before the data (its
 * Received header names it); "" when the envelope was already refused. */
static int
announce_qid(struct inj *j)
{
	struct buf out = BUF_INIT;
	const char *qid = j->v.code == 0 ? j->qid : "";
	int r;

	r = frame_put(&out, 'I', qid, strlen(qid));
	if (r == 0)
		r = stream_write(&j->s, out.data, out.len);
	if (r == 0)
		r = stream_flush(&j->s);
	buf_free(&out);
	return r;
}

static void
fail(struct inj *j, int code, const char *dsn, const char *text)
{
	if (j->v.code != 0)
		return;
	j->v.code = code;
	j->v.dsn = dsn;
	j->v.text = text;
}

static void
fail_errno(struct inj *j, int err)
{
	if (err == ENOSPC || err == EDQUOT || err == EIO || err == EFBIG)
		fail(j, 452, "4.3.1", "insufficient system storage");
	else
		fail(j, 451, "4.3.0", "local error in processing");
}

static void
cleanup(struct inj *j)
{
	if (j->msgfd != -1)
		close(j->msgfd);
	j->msgfd = -1;
	if (j->qid[0] != '\0')
		unlink(j->path);
	j->qid[0] = '\0';
}

/*
 * A long-lived worker keeps spare queue files: created, empty, mode 0600,
 * their names already made durable by an fsync of incoming/ after a
 * previous injection (SPOOL.md "Injection" 1).  The next message goes
 * into one, so only the file's own fsync stands between the end of the
 * data and the 250.  A busy worker (its last spares were made less than
 * SPARE_BUSY_SEC ago) makes SPARE_BATCH of them under one fsync of
 * incoming/: a group commit of the directory, one fsync for several
 * messages instead of one each.  A spare older than SPARE_MAX_AGE is not
 * used: the scheduler removes unfinished files not written for longer
 * than the injector's idle limit (at least 6 minutes), and a spare it
 * removed must never receive a message.
 */
#define SPARE_MAX_AGE	60
#define SPARE_BATCH	4
#define SPARE_BUSY_SEC	1

struct spare {
	int fd;
	char qid[QID_LEN + 1];
	char path[4096];
};

static struct {
	struct spare f[SPARE_BATCH];
	int n;			/* f[0..n-1] are ready, f[n-1] used first */
	time_t born;		/* when the last ones were made */
} spares;

/* "N"+QID of a wake-up to send again after the reply (wake_retry) */
static char wake_pending[QID_LEN + 2];

static int
create_file(const struct inject_opts *o, char qid[QID_LEN + 1],
    char *path, size_t pathsz)
{
	int fd;

	qid_new(qid);
	if (spool_path(path, pathsz, o->spool, "incoming", qid) == -1)
		return -1;
	/* 0600 until complete: the scheduler takes only group-readable
	 * files (SPOOL.md "Injection") */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	/* held until the file is complete and closed: the scheduler never
	 * removes an unfinished file someone holds locked (invariant 4),
	 * whatever the clocks or a stopped process make it look like */
	if (fd != -1 && spool_lock_unfinished(fd) == -1) {
		int saved = errno;

		close(fd);
		unlink(path);
		errno = saved;
		return -1;
	}
	return fd;
}

static void
spare_drop_last(void)
{
	struct spare *sp = &spares.f[spares.n - 1];

	close(sp->fd);
	unlink(sp->path);
	sp->fd = -1;
	spares.n--;
}

/* The worker exits: its spares would wait for the scheduler's scan. */
void
inject_drop_spares(void)
{
	while (spares.n > 0)
		spare_drop_last();
}

/* After a reply: have spares ready for the next messages. */
static void
spare_prepare(const struct inject_opts *o)
{
	char dir[4096];
	time_t now = time(NULL);
	int want;

	if (!o->spare_file || spares.n > 0)
		return;
	want = spares.born != 0 && now >= spares.born &&
	    now - spares.born <= SPARE_BUSY_SEC ? SPARE_BATCH : 1;
	spares.born = now;
	while (spares.n < want) {
		struct spare *sp = &spares.f[spares.n];

		sp->fd = create_file(o, sp->qid, sp->path, sizeof(sp->path));
		if (sp->fd == -1)
			break;
		spares.n++;
	}
	if (spares.n > 0 && (spool_path(dir, sizeof(dir), o->spool,
	    "incoming", "") == -1 || io_fsync_dir(dir) == -1))
		while (spares.n > 0)
			spare_drop_last();
}

/* Take a spare if one is fresh and still there. */
static bool
spare_take(struct inj *j)
{
	struct stat st;
	time_t now = time(NULL);

	while (spares.n > 0) {
		struct spare *sp = &spares.f[spares.n - 1];

		if (now - spares.born > SPARE_MAX_AGE || now < spares.born ||
		    fstat(sp->fd, &st) == -1 || st.st_nlink == 0 ||
		    st.st_size != 0 || futimens(sp->fd, NULL) == -1) {
			spare_drop_last();
			continue;
		}
		j->msgfd = sp->fd;
		memcpy(j->qid, sp->qid, sizeof(j->qid));
		memcpy(j->path, sp->path, sizeof(j->path));
		j->name_durable = true;
		sp->fd = -1;
		spares.n--;
		return true;
	}
	return false;
}

static int
open_message(struct inj *j)
{
	j->name_durable = false;
	if (spare_take(j))
		return 0;
	j->msgfd = create_file(j->o, j->qid, j->path, sizeof(j->path));
	if (j->msgfd == -1) {
		j->qid[0] = '\0';
		return -1;
	}
	return 0;
}

/*
 * max_message_size is what smtpd announces in EHLO and holds the client's
 * message to (RFC 1870: a message within it must be accepted).  What the
 * queue stores is more: the header lines its clients put in front (smtpd's
 * Received, sendmail's From:, Date: and Message-ID:), bounded in size but
 * not counted there.  The queue's own limit leaves room for them.
 */
#define ADDED_HEADERS_ROOM	65536

static void
store_data(struct inj *j, const struct buf *p)
{
	uint64_t n, limit = j->o->max_message_size;

	if (j->v.code != 0)
		return;		/* discarding after an error */
	limit = limit > UINT64_MAX - ADDED_HEADERS_ROOM ? UINT64_MAX :
	    limit + ADDED_HEADERS_ROOM;
	n = j->size + p->len;
	if (n < j->size || n > limit) {
		fail(j, 552, "5.3.4", "message size exceeds fixed limit");
		cleanup(j);
		return;
	}
	j->size = n;
	if (p->len > 0 && io_write_file(j->msgfd, p->data, p->len) == -1) {
		fail_errno(j, errno);
		cleanup(j);
	}
}

static void
reset_rcpts(struct envelope *e)
{
	size_t i;

	for (i = 0; i < e->nrcpts; i++) {
		struct rcpt *r = &e->rcpts[i];

		r->state = RCPT_PENDING;
		r->dsn[0] = '\0';
		envelope_set_str(&r->diag, NULL);
		envelope_set_str(&r->remote_mta, NULL);
		r->last_attempt = 0;
		r->attempts = 0;
	}
}

/* The lock of create_file() keeps the scheduler from removing a file
 * being written; should its name be gone all the same, what we write
 * would reach no one: refuse before the file is complete (once it is,
 * a delivery may remove it before our fsync returns). */
static int
still_linked(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return -1;
	if (st.st_nlink == 0) {
		log_msg(LOG_ERR, "queue_file_removed", "reason", "the queue "
		    "file was removed while it was written", NULL);
		errno = ENOENT;
		return -1;
	}
	return 0;
}

/* Append the record, mark the file complete, wake the scheduler, make
 * the file durable (SPOOL.md "Injection" 3-5; its name already is). */
static int
commit(struct inj *j, struct spool_rec *rec)
{
	char wake[QID_LEN + 2];
	int fd = j->msgfd, saved;

	j->msgfd = -1;
	if (envelope_set_str(&rec->env.qid, j->qid) == -1) {
		close(fd);
		return -1;
	}
	rec->env.arrival = (int64_t)time(NULL);
	rec->env.size = j->size;
	rec->env.uid = j->o->peer_uid;
	reset_rcpts(&rec->env);
	rec->next_try = 0;
	rec->warned = 0;
	if (spool_rec_reset_owed(rec) == -1 ||
	    spool_qfile_finish(fd, j->size, rec) == -1 ||
	    still_linked(fd) == -1 || fchmod(fd, 0640) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	/* Complete: the scheduler may start delivering while we make it
	 * durable (SPOOL.md "Injection" 4); the client's 250 waits. */
	snprintf(wake, sizeof(wake), "N%s", j->qid);
	if (wake_send(j->o->spool, wake) == -1 && errno == EAGAIN)
		memcpy(wake_pending, wake, sizeof(wake_pending));
	if (fsync(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/* The new file's name is made durable while the client is still sending
 * the message (SPOOL.md "Injection" 1): off the path to the 250. */
static void
sync_name(struct inj *j)
{
	char dir[4096];

	if (j->v.code != 0 || j->name_durable)
		return;
	if (spool_path(dir, sizeof(dir), j->o->spool, "incoming", "") == -1 ||
	    io_fsync_dir(dir) == -1) {
		fail_errno(j, errno);
		cleanup(j);
	}
}

/* Built here, emitted (log_end) by the caller after the 250: writing the
 * log may wake its reader, which need not come before the reply. */
static void
log_queued(struct logline *l, const struct inj *j, const struct envelope *e)
{
	log_begin(l, LOG_INFO, "queued");
	log_add(l, "qid", j->qid);
	log_addf(l, "from", "<%s>", e->sender != NULL ? e->sender : "");
	log_addf(l, "size", "%llu", (unsigned long long)j->size);
	log_addf(l, "nrcpt", "%zu", e->nrcpts);
	log_addf(l, "uid", "%lld", (long long)j->o->peer_uid);
	if (e->client_addr != NULL)
		log_add(l, "client", e->client_addr);
	if (e->protocol != NULL)
		log_add(l, "protocol", e->protocol);
}

/* The "own mailbox" mark (an alias's "\user": deliver past the user's
 * alias and .forward) comes only from posthorn-local expanding an alias,
 * which runs as alias_user (or as the spool's owner, posthorn-run run by
 * an ordinary user), or from root. */
static bool
own_mailbox_refused(const struct inj *j, const struct envelope *e)
{
	int64_t uid = j->o->peer_uid;
	size_t i;

	if (uid == 0 || uid == (int64_t)geteuid() ||
	    (j->o->alias_uid >= 0 && uid == j->o->alias_uid))
		return false;
	for (i = 0; i < e->nrcpts; i++)
		if (e->rcpts[i].own_mailbox) {
			log_msg(LOG_WARNING, "reject", "reason", "own-mailbox "
			    "mark from an untrusted client", "to",
			    e->rcpts[i].addr, NULL);
			return true;
		}
	return false;
}

/*
 * Who may say where a message came from.  The client-identity fields
 * (client address, HELO, AUTH identity, protocol) go into logs and are
 * what posthorn-bounce trusts ("double-bounce" means: no notice), and
 * the queue socket is open to every local user.  They are believed only
 * from the programs that set them: posthorn-smtpd (smtpd_uid),
 * posthorn-bounce (the spool's owner, or bounce_uid) and root.  Not
 * alias_user: posthorn-local expanding an alias sends the local label
 * itself, and alias_user is often the shared nobody.  Anyone else submits locally, whatever it says:
 * the fields become what sendmail sets (queue/sendmail.c).  As Postfix's
 * pickup ignores such attributes in files not owned by root or the mail
 * owner, the message is not refused: ordinary sendmail keeps working.
 */
#define LOCAL_LABEL	"local"

bool
identity_trusted(const struct inject_opts *o)
{
	int64_t uid = o->peer_uid;

	if (uid < 0)
		return false;	/* SO_PEERCRED failed: a stranger */
	return uid == 0 || uid == (int64_t)geteuid() ||
	    (o->smtpd_uid >= 0 && uid == o->smtpd_uid) ||
	    (o->bounce_uid >= 0 && uid == o->bounce_uid);
}

/* Is v exactly label?  v is hostile (decoded, NUL-terminated, but of
 * any length up to the decoder's limit): read no more of it than label
 * is long, plus its end. */
static bool
text_is(const char *v, const char *label)
{
	size_t n = strlen(label);

	return v != NULL && strnlen(v, n + 1) == n && memcmp(v, label, n) == 0;
}

/* The protocol names posthorn-smtpd gives a session without AUTH
 * (smtpd/txn.c session_protocol()): sendmail -bs run by an ordinary
 * user sends one of them. */
static bool
smtp_protocol_without_auth(const char *v)
{
	static const char *const names[] = { "SMTP", "ESMTP", "ESMTPS",
		"UTF8SMTP", "UTF8SMTPS" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (text_is(v, names[i]))
			return true;
	return false;
}

int
identity_relabel(const struct inject_opts *o, struct envelope *e,
    unsigned *replaced, bool *local_session)
{
	unsigned r = 0;

	*replaced = 0;
	*local_session = false;
	if (identity_trusted(o))
		return 0;
	/* a field left out is filled in, not counted: it claimed nothing */
	if (e->client_addr != NULL && !text_is(e->client_addr, LOCAL_LABEL))
		r |= CLIENT_FIELD_ADDR;
	if (e->client_helo != NULL)
		r |= CLIENT_FIELD_HELO;
	if (e->auth != NULL)
		r |= CLIENT_FIELD_AUTH;
	if (e->protocol != NULL && !text_is(e->protocol, LOCAL_LABEL))
		r |= CLIENT_FIELD_PROTOCOL;
	*local_session = (r & (CLIENT_FIELD_ADDR | CLIENT_FIELD_AUTH)) == 0 &&
	    (!(r & CLIENT_FIELD_PROTOCOL) ||
	    smtp_protocol_without_auth(e->protocol));
	if (envelope_set_str(&e->client_addr, LOCAL_LABEL) == -1 ||
	    envelope_set_str(&e->client_helo, NULL) == -1 ||
	    envelope_set_str(&e->auth, NULL) == -1 ||
	    envelope_set_str(&e->protocol, LOCAL_LABEL) == -1)
		return -1;
	*replaced = r;
	return 0;
}

/*
 * The local label for an untrusted submitter, and one log line when it
 * had claimed something else: event=untrusted_fields, which fields, the
 * uid.  The claimed values are not logged (a local user's text).  A
 * plain local SMTP session (sendmail -bs by an ordinary user: its HELO
 * and "ESMTP") is relabelled too, but logged at LOG_INFO, not as an
 * attempt (LOG_NOTICE).
 */
static int
relabel_untrusted(const struct inj *j, struct envelope *e)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ CLIENT_FIELD_ADDR, "client" },
		{ CLIENT_FIELD_HELO, "helo" },
		{ CLIENT_FIELD_AUTH, "auth" },
		{ CLIENT_FIELD_PROTOCOL, "protocol" },
	};
	struct logline l;
	char list[64];
	size_t i, used = 0;
	unsigned replaced;
	bool local_session;

	if (identity_relabel(j->o, e, &replaced, &local_session) == -1)
		return -1;
	if (replaced == 0)
		return 0;
	list[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n;

		if (!(replaced & names[i].bit))
			continue;
		n = snprintf(list + used, sizeof(list) - used, "%s%s",
		    used > 0 ? "," : "", names[i].name);
		if (n < 0 || (size_t)n >= sizeof(list) - used)
			break;	/* cannot happen: 25 octets at most */
		used += (size_t)n;
	}
	log_begin(&l, local_session ? LOG_INFO : LOG_NOTICE,
	    "untrusted_fields");
	log_add(&l, "qid", j->qid);
	log_addf(&l, "uid", "%lld", (long long)j->o->peer_uid);
	log_add(&l, "fields", list);
	log_add(&l, "action", "replaced by the local label");
	log_end(&l);
	return 0;
}

static void
check_envelope(struct inj *j, const struct buf *p, struct spool_rec *rec)
{
	const char *why = "malformed envelope";

	if (envelope_count_rcpts(p->data != NULL ? p->data : "", p->len,
	    j->o->max_recipients) > j->o->max_recipients)
		fail(j, 452, "4.5.3", "too many recipients");
	else if (envelope_decode(p->data != NULL ? p->data : "", p->len,
	    &rec->env, &why) == -1) {
		log_msg(LOG_WARNING, "reject", "reason", why, NULL);
		fail(j, 554, "5.5.0", "malformed envelope");
	} else if (rec->env.sender == NULL)
		fail(j, 554, "5.5.0", "envelope without sender");
	else if (rec->env.nrcpts == 0)
		fail(j, 554, "5.5.0", "envelope without recipients");
	else if (rec->env.nrcpts > j->o->max_recipients)
		fail(j, 452, "4.5.3", "too many recipients");
	else if (own_mailbox_refused(j, &rec->env))
		fail(j, 554, "5.7.1", "only alias deliveries may mark a "
		    "recipient for its own mailbox");
	else if (open_message(j) == -1)
		fail_errno(j, errno);
	else if (relabel_untrusted(j, &rec->env) == -1) {
		fail_errno(j, errno);
		cleanup(j);
	}
}

/* One message: the E frame is in p.  -1 closes the connection. */
static int
inject_one(struct inj *j, const struct buf *p, bool announce)
{
	struct logline l;
	struct spool_rec rec;
	struct buf data = BUF_INIT;
	char tag;
	int r;

	spool_rec_init(&rec);
	j->v.code = 0;
	j->size = 0;
	j->msgfd = -1;
	j->qid[0] = '\0';
	check_envelope(j, p, &rec);
	if (announce && announce_qid(j) == -1) {
		cleanup(j);
		spool_rec_free(&rec);
		return -1;
	}
	sync_name(j);
	for (;;) {
		r = frame_read(&j->s, DATA_MAX, &tag, &data);
		if (r != FRAME_OK || (tag != 'M' && tag != '.'))
			break;
		if (tag == '.' && data.len != 0) {
			r = FRAME_BAD;
			break;
		}
		if (tag == '.')
			break;
		store_data(j, &data);
	}
	buf_free(&data);
	if (r != FRAME_OK || tag != '.') {
		cleanup(j);
		spool_rec_free(&rec);
		if (r == FRAME_OK || r == FRAME_BAD) {
			log_msg(LOG_WARNING, "reject", "reason",
			    "protocol error", NULL);
			(void)reply(j, 554, "5.5.0", "protocol error", "");
		}
		return -1;
	}
	if (j->v.code == 0 && commit(j, &rec) == -1)
		fail_errno(j, errno);
	if (j->v.code != 0) {
		cleanup(j);
		spool_rec_free(&rec);
		log_msg(LOG_WARNING, "reject", "dsn", j->v.dsn, "reason",
		    j->v.text, NULL);
		return reply(j, j->v.code, j->v.dsn, j->v.text, "");
	}
	log_queued(&l, j, &rec.env);
	spool_rec_free(&rec);
	r = reply(j, 250, "2.0.0", "queued", j->qid);
	log_end(&l);
	j->qid[0] = '\0';	/* committed: nothing to clean up */
	return r;
}

/*
 * The scheduler's wake socket, connected once per process: send() then
 * fails with EAGAIN when its queue (net.unix.max_dgram_qlen, often 10) is
 * full, and poll() can wait for room.  A socket whose scheduler went away
 * (ECONNREFUSED after a restart) is connected again.
 */
static int wake_fd = -1;

static int
wake_connect(const char *spool)
{
	struct sockaddr_un sun;
	int saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (spool_path(sun.sun_path, sizeof(sun.sun_path), spool, "wake", "")
	    == -1)
		return -1;
	wake_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (wake_fd == -1)
		return -1;
	if (connect(wake_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(wake_fd);
		wake_fd = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

int
wake_send(const char *spool, const char *msg)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (wake_fd == -1 && wake_connect(spool) == -1)
			return -1;
		if (send(wake_fd, msg, strlen(msg), MSG_DONTWAIT |
		    MSG_NOSIGNAL) != -1)
			return 0;
		if (errno == EAGAIN || errno == EINTR)
			return -1;
		close(wake_fd);		/* gone or replaced: connect anew */
		wake_fd = -1;
	}
	return -1;
}

/* A wake-up the full queue refused (EAGAIN), sent once there is room,
 * waiting at most WAKE_RETRY_MS: after the client's reply, so only this
 * worker waits, and the scheduler's scan a second after any wake-up
 * still finds the message if this fails too (logged: a message that
 * waited for the scan is then explained in the log). */
#define WAKE_RETRY_MS	200

static void
wake_retry(const char *spool)
{
	struct pollfd pfd;

	if (wake_pending[0] == '\0')
		return;
	if (wake_fd != -1) {
		pfd.fd = wake_fd;
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, WAKE_RETRY_MS);
	}
	if (wake_send(spool, wake_pending) == -1)
		log_msg(LOG_NOTICE, "wake_lost", "qid", wake_pending + 1,
		    "reason", errno == EAGAIN ? "the scheduler's wake-up "
		    "queue stayed full" : strerror(errno), "next",
		    "picked up by the scheduler's scan", NULL);
	wake_pending[0] = '\0';
}

static int
do_flush(struct inj *j, const struct buf *p)
{
	struct buf msg = BUF_INIT;
	const char *why;
	int r;

	if (p->len > 0 && (memchr(p->data, '\0', p->len) != NULL ||
	    addr_domain_valid(p->data, p->len, 0, &why) == -1))
		return reply(j, 501, "5.5.4", "invalid domain", "");
	buf_append_char(&msg, 'F');
	buf_append(&msg, p->data != NULL ? p->data : "", p->len);
	if (wake_send(j->o->spool, buf_str(&msg)) == -1) {
		buf_free(&msg);
		log_msg(LOG_WARNING, "flush", "status", "failed", "reason",
		    strerror(errno), NULL);
		return reply(j, 451, "4.3.0", "scheduler not reachable", "");
	}
	log_msg(LOG_INFO, "flush", "domain", buf_str(&msg) + 1, NULL);
	buf_free(&msg);
	r = reply(j, 250, "2.0.0", "queue run started", "");
	return r;
}

/* Is qid queued: in msg/, or complete (group-readable) in incoming/? */
static bool
queued(const char *spool, const char *qid)
{
	char path[4096];
	struct stat st;

	if (spool_path(path, sizeof(path), spool, "msg", qid) == 0 &&
	    lstat(path, &st) == 0 && S_ISREG(st.st_mode))
		return true;
	return spool_path(path, sizeof(path), spool, "incoming", qid) == 0 &&
	    lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 0040) != 0;
}

/* D qid (sendmail -Mrm): only root and the spool's owner (our uid) may
 * remove mail; the scheduler does it (PROTOCOL.md 1d). */
static int
do_remove(struct inj *j, const struct buf *p)
{
	char msg[1 + QID_LEN + 1];
	char uid[24];

	snprintf(uid, sizeof(uid), "%lld", (long long)j->o->peer_uid);
	if (j->o->peer_uid != 0 && j->o->peer_uid != (int64_t)geteuid()) {
		log_msg(LOG_WARNING, "remove_refused", "uid", uid, NULL);
		return reply(j, 550, "5.7.1", "only root or the spool's owner "
		    "may remove mail from the queue", "");
	}
	if (p->len != QID_LEN || memchr(p->data, '\0', p->len) != NULL ||
	    !qid_valid(p->data))
		return reply(j, 501, "5.5.4", "invalid queue id", "");
	if (!queued(j->o->spool, p->data))
		return reply(j, 550, "5.0.0", "no such message in the queue",
		    "");
	msg[0] = 'D';
	memcpy(msg + 1, p->data, QID_LEN + 1);
	if (wake_send(j->o->spool, msg) == -1) {
		log_msg(LOG_WARNING, "remove", "qid", p->data, "status",
		    "failed", "reason", strerror(errno), NULL);
		return reply(j, 451, "4.3.0", "scheduler not reachable", "");
	}
	log_msg(LOG_NOTICE, "remove_requested", "qid", p->data, "uid", uid,
	    NULL);
	return reply(j, 250, "2.0.0", "removal requested", "");
}

static int
qid_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collect valid queue ids from SPOOL/sub into *v. */
static void
collect(const char *spool, const char *sub, char ***v, size_t *n,
    size_t *cap)
{
	char path[4096];
	struct dirent *d;
	DIR *dir;
	char **nv;

	if (spool_path(path, sizeof(path), spool, sub, "") == -1)
		return;
	dir = opendir(path);
	if (dir == NULL)
		return;
	while ((d = readdir(dir)) != NULL && *n < LIST_MAX) {
		if (!qid_valid(d->d_name))
			continue;
		if (*n == *cap) {
			nv = xrealloc_array(*v, *cap + 256, sizeof(char *));
			if (nv == NULL)
				break;
			*v = nv;
			*cap += 256;
		}
		(*v)[*n] = xstrndup(d->d_name, QID_LEN);
		if ((*v)[*n] != NULL)
			(*n)++;
	}
	closedir(dir);
}

static int
list_one(struct inj *j, const char *qid)
{
	struct spool_rec rec;
	struct buf out = BUF_INIT, fields = BUF_INIT;
	const char *why;
	size_t i, npend = 0;
	int r;

	spool_rec_init(&rec);
	r = spool_state_load(j->o->spool, qid, true, &rec, &why);
	if (r != 0) {
		spool_rec_free(&rec);
		return 0;	/* removed meanwhile, or corrupt: skip */
	}
	for (i = 0; i < rec.env.nrcpts; i++)
		if (rec.env.rcpts[i].state == RCPT_PENDING ||
		    rec.env.rcpts[i].state == RCPT_DEFERRED)
			npend++;
	buf_printf(&fields, "%s%c%llu%c%lld%c%s%c%zu", qid, 0,
	    (unsigned long long)rec.env.size, 0, (long long)rec.env.arrival,
	    0, rec.env.sender != NULL ? rec.env.sender : "", 0, npend);
	for (i = 0; i < rec.env.nrcpts; i++) {
		const struct rcpt *rc = &rec.env.rcpts[i];

		if (rc->state != RCPT_PENDING && rc->state != RCPT_DEFERRED)
			continue;
		buf_printf(&fields, "%c%s%c%s%c%s", 0, rc->addr, 0, rc->dsn, 0,
		    rc->diag != NULL ? rc->diag : "");
	}
	r = frame_put(&out, 'Q', fields.data, fields.len);
	if (r == 0)
		r = stream_write(&j->s, out.data, out.len);
	spool_rec_free(&rec);
	buf_free(&out);
	buf_free(&fields);
	return r;
}

static int
do_list(struct inj *j)
{
	char **v = NULL;
	size_t n = 0, cap = 0, i;
	int r = 0;

	collect(j->o->spool, "msg", &v, &n, &cap);
	collect(j->o->spool, "incoming", &v, &n, &cap);
	if (n > 0)
		qsort(v, n, sizeof(*v), qid_cmp);
	for (i = 0; i < n && r == 0; i++)
		if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
			r = list_one(j, v[i]);
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
	if (r == -1)
		return -1;
	return reply(j, 250, "2.0.0", "end of listing", "");
}

/* After an error reply: closing with unread input would make the kernel
 * reset the connection and the client might lose the reply.  Stop
 * writing, then read and drop what the client still sends, briefly. */
static void
linger(int rfd, int wfd)
{
	char b[16384];
	size_t total = 0;
	time_t until = time(NULL) + 10;	/* a trickle cannot hold us */
	ssize_t n;

	(void)shutdown(wfd, SHUT_WR);
	while (total < 1024 * 1024 && time(NULL) < until) {
		n = io_read(rfd, b, sizeof(b), 1000);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

int
inject_serve(const struct inject_opts *o, int rfd, int wfd)
{
	struct inj j;
	struct buf p = BUF_INIT;
	char tag;
	int r, rc = 0;

	memset(&j, 0, sizeof(j));
	j.o = o;
	j.msgfd = -1;
	if (stream_init(&j.s, rfd, wfd, o->timeout_ms) == -1)
		return -1;
	for (;;) {
		r = frame_read(&j.s, SPOOL_ENV_MAX + 1, &tag, &p);
		if (r == FRAME_EOF)
			break;
		if (r == FRAME_ERR) {
			rc = -1;
			break;
		}
		if (r == FRAME_BAD || (tag != 'E' && tag != 'A' && tag != 'F' &&
		    tag != 'L' && tag != 'D') || (tag == 'L' && p.len != 0) ||
		    (tag == 'F' && p.len > ADDR_DOMAIN_MAX) ||
		    (tag == 'D' && p.len > QID_LEN)) {
			log_msg(LOG_WARNING, "reject", "reason",
			    "protocol error", NULL);
			(void)reply(&j, 554, "5.5.0", "protocol error", "");
			rc = -1;
			break;
		}
		if (tag == 'E' || tag == 'A') {
			r = inject_one(&j, &p, tag == 'A');
			wake_retry(o->spool);
			if (r == 0)
				spare_prepare(o);
		}
		else if (tag == 'F')
			r = do_flush(&j, &p);
		else if (tag == 'D')
			r = do_remove(&j, &p);
		else
			r = do_list(&j);
		if (r == -1) {
			rc = -1;
			break;
		}
	}
	buf_free(&p);
	stream_free(&j.s);
	if (rc == -1)
		linger(rfd, wfd);
	return rc;
}

int64_t
peer_uid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1 ||
	    len != sizeof(cr))
		return -1;
	return (int64_t)cr.uid;
}

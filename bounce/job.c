/*
 * job.c — one posthorn-bounce job (see job.h).
 *
 * Rules, in order:
 *   - a message from double-bounce@hostname, or whose envelope protocol
 *     is "double-bounce" whatever its sender (a notice to the postmaster
 *     that failed too, queued maybe under another hostname), gets no
 *     notice of any kind: log, 'D'.  Only we set that protocol: the
 *     queue keeps a protocol only from posthorn's own uids (queue/
 *     inject.c identity_trusted()), so no local user can claim it;
 *   - a message from <> or MAILER-DAEMON@... never gets a notice back:
 *     its failures go once to postmaster@hostname as a double bounce,
 *     its delays and successes are not reported ('D', logged);
 *   - otherwise each recipient's NOTIFY decides (bounce_wanted()),
 *     except that a success notice is not ours to send when
 *     posthorn-remote handed the recipient to a server that does DSN
 *     (RFC 3461 4.2; the result text starts with AGENT_TEXT_DSN_PASSED).
 * Recipients that get no notice are reported 'D' at once.  The others are
 * reported 'D' once the queue said 250 for the notice, 'T' with the
 * queue's reason when it said 4xx or could not be reached or the original
 * could not be read, 'P' when the queue refused the notice permanently
 * (5xx) or no notice can ever be built (an address unfit for a header):
 * the scheduler then owes nothing more, so nothing retries forever.
 *
 * Trusts: the job was validated by agent_job_read(); the queue's verdict
 * was sanitised by qclient.
 */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bounce/job.h"
#include "common/addr.h"
#include "common/log.h"
#include "common/qclient.h"

/* Could pw reach the queue socket?  Checked with pw's effective ids,
 * then root is restored. */
static int
socket_reachable_as(const struct passwd *pw, const char *path)
{
	int ok;

	if (setgroups(0, NULL) == -1 || setegid(pw->pw_gid) == -1 ||
	    seteuid(pw->pw_uid) == -1)
		return -1;
	ok = faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0;
	if (seteuid(0) == -1 || setegid(0) == -1)
		return -1;
	return ok;
}

int
bounce_drop_root(const char *queue_socket, const char **why)
{
	struct passwd *pw;
	int ok;

	if (geteuid() != 0 && getuid() != 0)
		return 0;
	pw = getpwnam(BOUNCE_ROOT_USER);
	if (pw == NULL || pw->pw_uid == 0) {
		*why = "no user " BOUNCE_ROOT_USER " to become; staying root";
		return 1;
	}
	ok = socket_reachable_as(pw, queue_socket);
	if (ok == -1) {
		*why = "cannot switch ids";
		return -1;
	}
	if (ok == 0) {
		*why = "user " BOUNCE_ROOT_USER " cannot reach the queue socket; "
		    "staying root like the scheduler";
		return 1;
	}
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		*why = "cannot switch to user " BOUNCE_ROOT_USER;
		return -1;
	}
	if (setuid(0) == 0 || seteuid(0) == 0) {
		*why = "root could be regained";
		return -1;
	}
	return 0;
}

bool
bounce_wanted(enum dsn_kind kind, unsigned notify)
{
	if (notify & NOTIFY_NEVER)
		return false;
	switch (kind) {
	case DSN_FAILED:
		return notify == 0 || (notify & NOTIFY_FAILURE);
	case DSN_DELAYED:
		return notify == 0 || (notify & NOTIFY_DELAY);
	case DSN_SUCCESS:
		return (notify & NOTIFY_SUCCESS) != 0;
	}
	return false;
}

bool
bounce_is_double_sender(const char *sender, const char *hostname)
{
	static const char local[] = BOUNCE_DOUBLE_LOCAL "@";
	size_t n = sizeof(local) - 1;

	return sender != NULL && hostname != NULL &&
	    strncasecmp(sender, local, n) == 0 &&
	    addr_domain_eq(sender + n, hostname);
}

static const char *
kind_name(enum dsn_kind kind)
{
	return kind == DSN_FAILED ? "failed" : kind == DSN_DELAYED ?
	    "delayed" : "success";
}

static enum dsn_kind
job_kind(enum agent_kind_of_job k)
{
	return k == JOB_BOUNCE_DELAYED ? DSN_DELAYED :
	    k == JOB_BOUNCE_SUCCESS ? DSN_SUCCESS : DSN_FAILED;
}

/* One line per recipient: what became of its notice.  reason and
 * notice may be NULL. */
static void
log_rcpt(const struct agent_job *job, size_t i, const char *event,
    const char *reason, const char *notice)
{
	struct logline l;

	log_begin(&l, LOG_INFO, event);
	log_add(&l, "qid", job->env.qid);
	log_add(&l, "kind", kind_name(job_kind(job->kind)));
	log_addf(&l, "from", "<%s>", job->env.sender ? job->env.sender : "");
	log_addf(&l, "to", "<%s>", job->env.rcpts[i].addr);
	if (reason != NULL)
		log_add(&l, "reason", reason);
	if (notice != NULL)
		log_add(&l, "notice", notice);
	log_end(&l);
}

/* Report every recipient with cover[i] == want. */
static int
report_all(struct stream *ctl, const struct agent_job *job, const bool *cover,
    bool want, char status, const char *dsn, const char *text)
{
	size_t i;

	for (i = 0; i < job->env.nrcpts; i++)
		if ((cover == NULL || cover[i] == want) &&
		    agent_report(ctl, job, i, status, dsn, text, NULL) == -1)
			return -1;
	return 0;
}

static int
sink_queue(void *ctx, const void *p, size_t n)
{
	return qclient_write(ctx, p, n);
}

/* Build the notice and hand it to the queue; res says what happened. */
static void
inject(const struct config *cfg, const struct dsn_input *in,
    struct qresult *res)
{
	struct envelope ne;
	struct dsn_plan plan;
	struct qclient *q;
	struct buf err = BUF_INIT;
	const char *why = "queue connection lost";
	char sender[ADDR_MAX + 32];

	memset(res, 0, sizeof(*res));
	envelope_init(&ne);
	switch (dsn_plan(in, &plan, &why)) {
	case 0:
		break;
	case -2:
		res->code = 554;
		snprintf(res->dsn, sizeof(res->dsn), "5.1.3");
		snprintf(res->text, sizeof(res->text), "%s", why);
		return;
	default:
		res->code = 451;
		snprintf(res->dsn, sizeof(res->dsn), "4.3.0");
		snprintf(res->text, sizeof(res->text), "%s", why);
		return;
	}
	snprintf(sender, sizeof(sender), "%s@%s", BOUNCE_DOUBLE_LOCAL,
	    in->hostname);
	if (envelope_set_sender(&ne, in->double_bounce ? sender : "") == -1 ||
	    envelope_add_rcpt(&ne, in->to, 0, NULL) == -1 ||
	    envelope_set_str(&ne.protocol, in->double_bounce ?
	    BOUNCE_PROTO_DOUBLE : BOUNCE_PROTO) == -1 ||
	    envelope_set_str(&ne.client_addr, "local") == -1) {
		res->code = 451;
		snprintf(res->dsn, sizeof(res->dsn), "4.3.0");
		snprintf(res->text, sizeof(res->text),
		    "cannot make the notice's envelope");
		envelope_free(&ne);
		return;
	}
	ne.body = plan.eightbit ? BODY_8BITMIME : BODY_7BIT;
	ne.smtputf8 = plan.smtputf8;
	ne.uid = -1;
	q = qclient_open(cfg->queue_socket, &err);
	if (q == NULL) {
		res->code = 451;
		snprintf(res->dsn, sizeof(res->dsn), "4.3.0");
		snprintf(res->text, sizeof(res->text), "queue unreachable: %s",
		    buf_str(&err));
	} else if (qclient_envelope(q, &ne) == -1 ||
	    dsn_write(in, &plan, sink_queue, q, &why) == -1) {
		/* Never finish a notice that was not written whole: the
		 * queue would store the part it got. */
		qclient_abort(q);
		res->code = 451;
		snprintf(res->dsn, sizeof(res->dsn), "4.3.0");
		snprintf(res->text, sizeof(res->text), "notice not queued: %s",
		    why);
	} else {
		qclient_finish(q, res);
	}
	buf_free(&err);
	envelope_free(&ne);
}

/* The whole job is suppressed (no notice for anybody). */
static int
suppress(struct stream *ctl, const struct agent_job *job, const char *event,
    const char *reason)
{
	size_t i;

	for (i = 0; i < job->env.nrcpts; i++)
		log_rcpt(job, i, event, reason, NULL);
	if (report_all(ctl, job, NULL, true, 'D', "2.0.0", reason) == -1)
		return -1;
	return agent_job_done(ctl);
}

/* The queue refused the notice for good (5xx): log it and what is tried
 * next. */
static void
log_refused(const struct agent_job *job, const struct dsn_input *in,
    const struct qresult *res, const char *next)
{
	struct logline l;

	log_begin(&l, LOG_WARNING, "notice-refused");
	log_add(&l, "qid", job->env.qid);
	log_addf(&l, "to", "<%s>", in->to);
	log_addf(&l, "reply", "%d %s %s", res->code, res->dsn, res->text);
	log_add(&l, "next", next);
	log_end(&l);
}

/* Queue the notice.  A failure notice the queue refuses for good is not
 * simply given up: after a size refusal (552) once more with the
 * original's header section alone, then, if it was for the sender, once to
 * postmaster as a double bounce, as a notice that cannot reach the
 * sender would be; SPEC: failed bounces go once to postmaster.  (Our
 * own refusals, an address the notice cannot carry, come as 554.) */
static void
inject_with_fallback(const struct config *cfg, const struct agent_job *job,
    struct dsn_input *in, char *postmaster, struct qresult *res)
{
	inject(cfg, in, res);
	if (res->code / 100 != 5 || in->kind != DSN_FAILED)
		return;
	if (res->code == 552 && in->max_original > 0) {
		log_refused(job, in, res, "the header section alone");
		in->max_original = 0;
		inject(cfg, in, res);
		if (res->code / 100 != 5)
			return;
	}
	if (!in->double_bounce) {
		log_refused(job, in, res, "postmaster");
		in->to = postmaster;
		in->double_bounce = true;
		inject(cfg, in, res);
	}
}

static int
notify_and_report(const struct config *cfg, struct stream *ctl,
    const struct agent_job *job, struct dsn_input *in, const bool *cover,
    char *postmaster, char *status)
{
	struct qresult res;
	char text[400];
	char st;
	size_t i;

	inject_with_fallback(cfg, job, in, postmaster, &res);
	if (res.code / 100 == 2) {
		st = 'D';
		snprintf(text, sizeof(text), "notice queued as %s", res.qid);
	} else {
		st = res.code / 100 == 5 ? 'P' : 'T';
		snprintf(text, sizeof(text), "notice not queued: %d %s %s",
		    res.code, res.dsn, res.text);
	}
	*status = st;
	for (i = 0; i < job->env.nrcpts; i++) {
		if (!cover[i])
			continue;
		log_rcpt(job, i, st == 'D' ? "notice" : "notice-failed",
		    st == 'D' ? NULL : text, st == 'D' ? res.qid : NULL);
		if (agent_report(ctl, job, i, st, st == 'D' ? "2.0.0" : res.dsn,
		    text, NULL) == -1)
			return -1;
	}
	return 0;
}

#define PASSED_ON	"the receiving server offered DSN and took the " \
	"success notice over (RFC 3461 4.2)"

/* posthorn-remote marks a recipient whose NOTIFY it gave to a server that
 * does DSN (common/agent.h): that server sends the success notice. */
static bool
dsn_passed_on(enum dsn_kind kind, const struct rcpt *r)
{
	return kind == DSN_SUCCESS && r->diag != NULL &&
	    strncmp(r->diag, AGENT_TEXT_DSN_PASSED,
	    strlen(AGENT_TEXT_DSN_PASSED)) == 0;
}

/* A recipient that wants no notice of this kind.  Reported after the
 * notice for the others (noticed: its status, 'D' if there was none):
 * a delay warning is owed per message, and the scheduler counts it as
 * given once any recipient of the job is done, so while the others'
 * warning waits (T) this one waits too. */
static int
report_one_unwanted(struct stream *ctl, const struct agent_job *job,
    size_t i, char noticed)
{
	if (job_kind(job->kind) == DSN_DELAYED && noticed == 'T')
		return agent_report(ctl, job, i, 'T', "4.3.0",
		    "the delay notice for the other recipients is not queued "
		    "yet", NULL);
	log_rcpt(job, i, "notice-suppressed", "not requested (NOTIFY)", NULL);
	return agent_report(ctl, job, i, 'D', "2.0.0",
	    "no notice requested (NOTIFY)", NULL);
}

int
bounce_job(const struct config *cfg, struct stream *ctl,
    const struct agent_job *job)
{
	const struct envelope *e = &job->env;
	enum dsn_kind kind = job_kind(job->kind);
	struct dsn_input in;
	char postmaster[300];
	bool *cover, *unwanted, any = false, dbl = false;
	const char *to = e->sender;
	char noticed = 'D';
	size_t i;
	int rc = -1;

	snprintf(postmaster, sizeof(postmaster), "postmaster@%s",
	    cfg->hostname);
	if (bounce_is_double_sender(e->sender, cfg->hostname))
		return suppress(ctl, job, "double-bounce-dropped",
		    "no notice to the double-bounce address");
	/* whatever its sender: double-bounce@ a hostname configured
	 * before, or <> from an older version */
	if (e->protocol != NULL && strcmp(e->protocol, BOUNCE_PROTO_DOUBLE) == 0)
		return suppress(ctl, job, "double-bounce-dropped",
		    "a failed double bounce is dropped");
	if (dsn_sender_is_null(e->sender)) {
		if (kind != DSN_FAILED)
			return suppress(ctl, job, "notice-suppressed",
			    "no notice to a mail system sender");
		to = postmaster;
		dbl = true;
	}
	cover = xcalloc_array(e->nrcpts, 2 * sizeof(bool));
	if (cover == NULL)
		return -1;
	unwanted = cover + e->nrcpts;
	for (i = 0; i < e->nrcpts; i++) {
		cover[i] = bounce_wanted(kind, e->rcpts[i].notify);
		if (cover[i] && dsn_passed_on(kind, &e->rcpts[i])) {
			cover[i] = false;
			log_rcpt(job, i, "notice-suppressed", PASSED_ON, NULL);
			if (agent_report(ctl, job, i, 'D', "2.0.0", PASSED_ON,
			    NULL) == -1)
				goto out;
			continue;
		}
		any = any || cover[i];
		unwanted[i] = !cover[i];
	}
	if (any) {
		if (dsn_input_init(&in, kind, e, job->msgfd, job->msgsize,
		    cfg->hostname, to) == -1) {
			noticed = 'T';
			if (report_all(ctl, job, cover, true, 'T', "4.3.0",
			    "no randomness for the notice") == -1)
				goto out;
		} else {
			in.cover = cover;
			in.double_bounce = dbl;
			in.queue_lifetime = cfg->queue_lifetime;
			in.max_original = cfg->bounce_max_original;
			if (notify_and_report(cfg, ctl, job, &in, cover,
			    postmaster, &noticed) == -1)
				goto out;
		}
	}
	for (i = 0; i < e->nrcpts; i++)
		if (unwanted[i] &&
		    report_one_unwanted(ctl, job, i, noticed) == -1)
			goto out;
	rc = agent_job_done(ctl);
out:
	free(cover);
	return rc;
}

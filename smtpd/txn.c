/*
 * txn.c — the mail transaction verbs of posthorn-smtpd: MAIL, RCPT, DATA
 * and BDAT (RFC 5321, 1870, 3030, 3461, 6152, 6531), with the relay and
 * local-recipient policy at RCPT and the hand-over of each message to the
 * sink (the queue).  Called from session.c's command table after its
 * generic checks.
 *
 * Input: the command arguments and the message octets from the peer,
 * hostile; addresses and parameters go through parse.c, content through
 * data.c.  Trust: the configuration and local tables; the peer's address
 * only through relay_networks (s->relay_client); the queue's verdict.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "smtpd/smtpd.h"

static void
reply_parse_error(struct session *s, const struct parse_error *pe)
{
	session_reply(s, pe->code, pe->dsn, "%s", pe->why);
}

/* ---- MAIL -------------------------------------------------------------- */

void
txn_reset(struct session *s)
{
	if (s->msg != NULL)
		s->sink->abort(s->msg);
	s->msg = NULL;
	s->msg_id = s->msg_head = s->msg_lost = false;
	s->bdat = false;
	free(s->scan);
	s->scan = NULL;
	envelope_free(&s->env);
	envelope_init(&s->env);
	s->in_txn = false;
	s->rcpt_tried = 0;
	s->id[0] = '\0';
}

/* The "with" of Received (RFC 3848; RFC 6531 3.7.3 for a transaction
 * that uses SMTPUTF8). */
const char *
session_protocol(const struct session *s)
{
	bool utf8 = s->env.smtputf8;	/* false outside a transaction */

	if (s->auth_user != NULL)
		return utf8 ? (s->tls ? "UTF8SMTPSA" : "UTF8SMTPA") :
		    (s->tls ? "ESMTPSA" : "ESMTPA");
	if (s->tls)
		return utf8 ? "UTF8SMTPS" : "ESMTPS";
	if (utf8)
		return "UTF8SMTP";
	return s->esmtp ? "ESMTP" : "SMTP";
}

int
txn_check_mail(struct session *s, const char *args)
{
	(void)args;
	if ((s->mode & SMTPD_SUBMISSION) && s->auth_user == NULL) {
		session_reply(s, 530, "5.7.0", "Authentication required");
		return -1;
	}
	return 0;
}

static int
envelope_start(struct session *s, const struct addr *a,
    const struct mail_params *mp)
{
	char from[ADDR_MAX];
	struct envelope *e = &s->env;

	if (addr_format(a, from, sizeof(from)) < 0)
		return -1;
	e->smtputf8 = mp->smtputf8;	/* before session_protocol() */
	if (envelope_set_sender(e, from) != 0 ||
	    envelope_set_str(&e->client_addr, s->peer_ip) != 0 ||
	    envelope_set_str(&e->client_helo, s->helo) != 0 ||
	    envelope_set_str(&e->protocol, session_protocol(s)) != 0 ||
	    envelope_set_str(&e->envid, mp->envid) != 0 ||
	    envelope_set_str(&e->auth, s->auth_user) != 0)
		return -1;
	e->size = mp->size;
	e->body = mp->body;
	e->ret = mp->ret;
	e->uid = -1;
	return 0;
}

void
txn_mail(struct session *s, const char *args)
{
	struct parse_error pe;
	struct mail_params mp;
	struct addr a;
	const char *rest;

	if (smtp_parse_path_arg(args, "FROM:", ADDR_ALLOW_NULL | ADDR_UTF8,
	    &a, &rest, &pe) != 0) {
		reply_parse_error(s, &pe);
		return;
	}
	if (smtp_parse_mail_params(rest, s->esmtp, s->cfg->max_message_size,
	    &mp, &pe) != 0) {
		mail_params_free(&mp);
		reply_parse_error(s, &pe);
		return;
	}
	if (a.utf8 && !mp.smtputf8) {
		mail_params_free(&mp);
		session_reply(s, 553, "5.6.7",
		    "Non-ASCII address needs SMTPUTF8");
		return;
	}
	if (envelope_start(s, &a, &mp) != 0) {
		mail_params_free(&mp);
		txn_reset(s);
		session_reply(s, 451, "4.3.0", "Out of memory");
		return;
	}
	mail_params_free(&mp);
	s->in_txn = true;
	session_reply(s, 250, "2.1.0", "Ok");
}

/* ---- RCPT -------------------------------------------------------------- */

int
txn_check_rcpt(struct session *s, const char *args)
{
	(void)args;
	if (!s->in_txn) {
		session_reply(s, 503, "5.5.1", "Need MAIL command");
		return -1;
	}
	if (s->bdat) {
		session_reply(s, 503, "5.5.1", "RCPT not allowed during BDAT");
		return -1;
	}
	return 0;
}

/* The recipient's domain decides: local (must exist), relay, or only for
 * trusted clients.  Returns the reply code given (250 accepted). */
static int
rcpt_policy(struct session *s, const char *rcpt, const char *domain)
{
	struct local_target lt;
	struct buf err = BUF_INIT;
	const char *moved;
	int r;

	if (config_is_local_domain(s->cfg, domain)) {
		moved = local_relocated(s->tables, rcpt);
		if (moved != NULL) {
			session_reply(s, 551, "5.1.6",
			    "user has moved; please try <%s>", moved);
			return 551;
		}
		r = local_resolve(s->cfg, s->tables, rcpt, &lt, &err);
		if (r == 0) {
			buf_free(&err);
			session_reply(s, 550, "5.1.1", "User unknown");
			return 550;
		}
		if (r < 0) {
			log_msg(LOG_ERR, "local_lookup_failed", "to", rcpt,
			    "reason", buf_str(&err), (char *)NULL);
			buf_free(&err);
			session_reply(s, 451, "4.3.0",
			    "Temporary lookup failure");
			return 451;
		}
		buf_free(&err);
		return 250;
	}
	if (config_is_relay_domain(s->cfg, domain) || s->relay_client ||
	    s->auth_user != NULL)
		return 250;
	log_msg(LOG_WARNING, "relay_denied", "client", s->peer_ip,
	    "to", rcpt, (char *)NULL);
	session_reply(s, 554, "5.7.1", "Relay access denied");
	return 554;
}

/* RCPT TO:<postmaster> without a domain (RFC 5321 §4.5.1) means the
 * postmaster of our first local domain. */
static int
rcpt_address(struct session *s, struct addr *a, char *out, size_t outsz)
{
	const struct strlist *l = &s->cfg->local_domains;

	if (a->domain[0] == '\0') {
		if (strcasecmp(a->local, "postmaster") != 0)
			return -1;
		snprintf(a->domain, sizeof(a->domain), "%s",
		    l->n > 0 ? l->v[0] : s->cfg->hostname);
	}
	return addr_format(a, out, outsz) < 0 ? -1 : 0;
}

void
txn_rcpt(struct session *s, const char *args)
{
	struct parse_error pe;
	struct rcpt_params rp;
	struct addr a;
	const char *rest;
	char rcpt[ADDR_MAX];

	s->rcpt_tried++;
	if (smtp_parse_path_arg(args, "TO:", ADDR_UTF8 | ADDR_ALLOW_NODOMAIN,
	    &a, &rest, &pe) != 0) {
		reply_parse_error(s, &pe);
		return;
	}
	if (rcpt_address(s, &a, rcpt, sizeof(rcpt)) != 0) {
		session_reply(s, 501, "5.1.3", "Recipient needs a domain");
		return;
	}
	if (a.utf8 && !s->env.smtputf8) {
		session_reply(s, 553, "5.6.7",
		    "Non-ASCII address needs SMTPUTF8");
		return;
	}
	if (smtp_parse_rcpt_params(rest, s->esmtp, &rp, &pe) != 0) {
		rcpt_params_free(&rp);
		reply_parse_error(s, &pe);
		return;
	}
	if (s->env.nrcpts >= s->cfg->max_recipients) {
		rcpt_params_free(&rp);
		session_reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	if (rcpt_policy(s, rcpt, a.domain) != 250) {
		rcpt_params_free(&rp);
		return;
	}
	if (envelope_add_rcpt(&s->env, rcpt, rp.notify, rp.orcpt) < 0) {
		rcpt_params_free(&rp);
		session_reply(s, 451, "4.3.0", "Out of memory");
		return;
	}
	rcpt_params_free(&rp);
	session_reply(s, 250, "2.1.5", "Ok");
}

/* ---- DATA and BDAT ------------------------------------------------------ */

int
txn_check_data(struct session *s, const char *args)
{
	(void)args;
	if (!s->in_txn) {
		session_reply(s, 503, "5.5.1", "Need MAIL command");
		return -1;
	}
	if (s->bdat) {
		session_reply(s, 503, "5.5.1", "DATA not allowed after BDAT");
		return -1;
	}
	if (s->env.nrcpts == 0) {
		if (s->rcpt_tried > 0)
			session_reply(s, 554, "5.5.1", "No valid recipients");
		else
			session_reply(s, 503, "5.5.1", "Need RCPT command");
		return -1;
	}
	return 0;
}

/* Open the sink and send the envelope, without waiting for the queue's
 * answer: the 354 (or the reading of the first BDAT chunk) overlaps with
 * the queue creating its file.  A queue that cannot be reached at all is
 * known here, and the caller refuses at once. */
static int
message_open(struct session *s)
{
	struct buf err = BUF_INIT;

	s->msg = s->sink->open(s->sink->arg, &err);
	if (s->msg == NULL) {
		log_msg(LOG_ERR, "queue_unavailable", "reason", buf_str(&err),
		    (char *)NULL);
		buf_free(&err);
		return -1;
	}
	buf_free(&err);
	s->msg_id = s->msg_head = s->msg_lost = false;
	if (s->sink->envelope(s->msg, &s->env) != 0) {
		log_msg(LOG_ERR, "queue_unavailable", "reason",
		    "cannot send the envelope", (char *)NULL);
		s->sink->abort(s->msg);
		s->msg = NULL;
		return -1;
	}
	return 0;
}

/* Learn the id the queue gives the message (once).  It names the message
 * in our Received header and log lines; when the queue gave none (it
 * will refuse the message, or a test sink) a local one does.  -1 when
 * the queue went away: the message is refused after its data. */
static int
message_id(struct session *s)
{
	char qid[QID_LEN + 1];

	if (s->msg_id)
		return s->msg_lost ? -1 : 0;
	s->msg_id = true;
	if (s->sink->qid(s->msg, qid) != 0) {
		log_msg(LOG_ERR, "queue_unavailable", "reason",
		    "no queue id", (char *)NULL);
		s->msg_lost = true;
		qid[0] = '\0';
	}
	if (qid[0] != '\0')
		snprintf(s->id, sizeof(s->id), "%s", qid);
	else
		qid_new(s->id);
	return s->msg_lost ? -1 : 0;
}

/* Before the first octet of the message: our Received header, which
 * names the queue id ("id QID", RFC 5321 §4.4).  Only here does the
 * session wait for the queue's answer to the envelope. */
static int
message_head(struct session *s)
{
	struct buf hdr = BUF_INIT;
	int r;

	if (s->msg_head)
		return 0;
	if (message_id(s) != 0)
		return -1;
	s->msg_head = true;
	r = received_header(s, time(NULL), &hdr) == 0 &&
	    s->sink->write(s->msg, hdr.data, hdr.len) == 0 ? 0 : -1;
	buf_free(&hdr);
	return r;
}

static int
sink_emit(void *arg, const void *p, size_t n)
{
	struct session *s = arg;

	if (message_head(s) != 0)
		return -1;
	return s->sink->write(s->msg, p, n);
}

static void
log_rejected(struct session *s, const char *dsn, const char *why)
{
	log_msg(LOG_NOTICE, "rejected", "id", s->id, "client", s->peer_ip,
	    "dsn", dsn, "reason", why, (char *)NULL);
}

/* The line is built here and emitted (log_end) by the caller once the
 * client has its reply: the write to the log (a pipe or the journal) may
 * wake the reader, which need not come before the 250. */
static void
log_received(struct logline *l, struct session *s,
    const struct qresult *res, uint64_t size)
{
	log_begin(l, res->code < 300 ? LOG_INFO : LOG_WARNING,
	    res->code < 300 ? "received" : "refused_by_queue");
	log_add(l, "qid", res->qid);
	log_add(l, "id", s->id);
	log_addf(l, "from", "<%s>", s->env.sender);
	log_addf(l, "nrcpt", "%zu", s->env.nrcpts);
	log_addf(l, "size", "%llu", (unsigned long long)size);
	log_add(l, "client", s->peer_ip);
	log_add(l, "helo", s->helo);
	log_add(l, "proto", session_protocol(s));
	if (s->auth_user != NULL)
		log_add(l, "auth", s->auth_user);
	log_add(l, "dsn", res->dsn);
}

/* The verdict on a complete message: a refusal from the scan flags, or
 * the queue's answer. */
static void
message_finish(struct session *s, unsigned flags, uint64_t size)
{
	struct qresult res;
	struct logline l;
	void *h = s->msg;
	int code = 0;
	const char *dsn = NULL, *why = NULL;

	/* the id for the log; an empty message has no header yet */
	if (message_id(s) == 0 && flags == 0 && message_head(s) != 0)
		flags |= DATA_SINKERR;
	s->msg = NULL;
	if (flags & DATA_BARE) {
		code = 550, dsn = "5.5.2";
		why = "Bare <CR> or <LF> not allowed";
	} else if (flags & DATA_NUL) {
		code = 554, dsn = "5.6.0", why = "NUL octet in message";
	} else if (flags & DATA_LOOP) {
		code = 554, dsn = "5.4.6";
		why = "Too many Received headers: mail loop";
	} else if (flags & DATA_LONGLINE) {
		code = 554, dsn = "5.6.0", why = "Message line too long";
	} else if (flags & DATA_TOOBIG) {
		code = 552, dsn = "5.3.4", why = "Message size exceeds limit";
	} else if (s->msg_lost) {
		code = 451, dsn = "4.3.0", why = "Queue unavailable";
	} else if (flags & DATA_SINKERR) {
		code = 451, dsn = "4.3.0", why = "Queue write failed";
	}
	if (code != 0) {
		s->sink->abort(h);
		log_rejected(s, dsn, why);
		txn_reset(s);
		session_reply(s, code, dsn, "%s", why);
		return;
	}
	memset(&res, 0, sizeof(res));
	s->sink->finish(h, &res);
	if (res.code < 200 || res.code > 599 || res.dsn[0] == '\0') {
		res.code = 451;
		snprintf(res.dsn, sizeof(res.dsn), "4.3.0");
		snprintf(res.text, sizeof(res.text), "Queue error");
	}
	log_received(&l, s, &res, size);
	txn_reset(s);
	if (res.code < 300 && res.qid[0] != '\0') {
		s->messages++;
		s->errors = 0;	/* the limit is on errors without mail */
		session_reply(s, res.code, res.dsn, "Ok: queued as %s",
		    res.qid);
	} else
		session_reply(s, res.code, res.dsn, "%s", res.text);
	/* the verdict first (a failed write is seen by the command loop),
	 * then the log line */
	(void)stream_flush(&s->io);
	log_end(&l);
}

/* Read the DATA content line by line through the scanner. */
static void
data_receive(struct session *s, struct data_scan *d)
{
	static const char *const term[] = { "\r\n", "\n", "\r", "" };
	enum line_end end;
	int r;

	while (!d->done) {
		if (session_expired(s)) {
			session_reply(s, 421, "4.4.2", "%s Session time limit "
			    "exceeded", s->cfg->hostname);
			return;
		}
		s->io.timeout_ms = session_timeout_ms(s);
		r = stream_getline(&s->io, &s->line, DATA_LINE_MAX, &end);
		if (r == STREAM_TOOLONG) {
			d->flags |= DATA_LONGLINE;
			buf_reset(&s->line);
		} else if (r != STREAM_LINE || end == LINE_EOF) {
			if (r == STREAM_ERR && !session_read_timeout(s))
				log_msg(LOG_NOTICE, "lost_in_data", "client",
				    s->peer_ip, (char *)NULL);
			s->done = true;
			return;
		}
		data_scan_feed(d, s->line.data ? s->line.data : "",
		    s->line.len);
		data_scan_feed(d, term[end], strlen(term[end]));
	}
}

void
txn_data(struct session *s, const char *args)
{
	struct data_scan *d;

	(void)args;
	if (message_open(s) != 0) {
		session_reply(s, 451, "4.3.0", "Queue unavailable");
		return;
	}
	d = malloc(sizeof(*d));
	if (d == NULL) {
		txn_reset(s);
		session_reply(s, 451, "4.3.0", "Out of memory");
		return;
	}
	data_scan_init(d, true,
	    s->cfg->bare_newline == BARE_NEWLINE_NORMALIZE,
	    s->cfg->max_message_size, sink_emit, s);
	session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	if (stream_flush(&s->io) != 0) {
		free(d);
		txn_reset(s);
		s->done = true;
		return;
	}
	data_receive(s, d);
	if (s->done) {
		free(d);
		txn_reset(s);
		return;
	}
	message_finish(s, d->flags, d->size);
	free(d);
}

/* Read (and scan, or drop) exactly n chunk octets.  0 ok, -1 lost. */
static int
bdat_read(struct session *s, uint64_t n, struct data_scan *d)
{
	char chunk[8192];
	ssize_t r;

	while (n > 0) {
		size_t want = n > sizeof(chunk) ? sizeof(chunk) : (size_t)n;
		if (session_expired(s)) {
			session_reply(s, 421, "4.4.2", "%s Session time limit "
			    "exceeded", s->cfg->hostname);
			return -1;
		}
		/* replies still held for pipelining go out before the
		 * server waits (RFC 2920 §3.1) */
		if (stream_pending(&s->io) == 0 &&
		    stream_flush(&s->io) != 0) {
			s->done = true;
			return -1;
		}
		s->io.timeout_ms = session_timeout_ms(s);
		r = stream_read(&s->io, chunk, want);
		if (r <= 0) {
			if (r < 0 && session_read_timeout(s))
				return -1;
			log_msg(LOG_NOTICE, "lost_in_bdat", "client",
			    s->peer_ip, (char *)NULL);
			s->done = true;
			return -1;
		}
		if (d != NULL)
			data_scan_feed(d, chunk, (size_t)r);
		n -= (uint64_t)r;
	}
	return 0;
}

static int
bdat_start(struct session *s)
{
	if (message_open(s) != 0)
		return -1;
	s->scan = malloc(sizeof(*s->scan));
	if (s->scan == NULL)
		return -1;
	data_scan_init(s->scan, false,
	    s->cfg->bare_newline == BARE_NEWLINE_NORMALIZE,
	    s->cfg->max_message_size, sink_emit, s);
	s->bdat = true;
	return 0;
}

/* The state refusal for BDAT, after its octets were consumed. */
static bool
bdat_refused(struct session *s)
{
	if (!s->in_txn) {
		session_reply(s, 503, "5.5.1", "Need MAIL command");
		return true;
	}
	if (s->env.nrcpts == 0) {
		txn_reset(s);
		session_reply(s, 554, "5.5.1", "No valid recipients");
		return true;
	}
	return false;
}

void
txn_bdat(struct session *s, const char *args)
{
	uint64_t n;
	bool last, ok;

	switch (smtp_parse_bdat(args, &n, &last)) {
	case 0:
		break;
	case -2:
		/* the size is known: skip the chunk, stay in step.  A
		 * refused chunk fails the transaction (RFC 3030 §2): no
		 * later BDAT may complete a message with a chunk missing */
		if (bdat_read(s, n, NULL) == 0) {
			if (s->in_txn)
				txn_reset(s);
			session_reply(s, 501, "5.5.4", "Syntax: BDAT size "
			    "[LAST]");
		}
		return;
	default:
		/* where the chunk ends is unknown: its octets would be
		 * read as commands */
		session_reply(s, 421, "4.5.4", "Syntax: BDAT size [LAST]; "
		    "the chunk's end is unknown, closing connection");
		s->done = true;
		return;
	}
	ok = s->helo_done && s->in_txn && s->env.nrcpts > 0;
	if (ok && !s->bdat && bdat_start(s) != 0) {
		if (bdat_read(s, n, NULL) == 0) {
			txn_reset(s);
			session_reply(s, 451, "4.3.0", "Queue unavailable");
		}
		return;
	}
	if (bdat_read(s, n, ok ? s->scan : NULL) != 0)
		return;
	if (!s->helo_done) {
		session_reply(s, 503, "5.5.1", "Send HELO/EHLO first");
		return;
	}
	if (bdat_refused(s))
		return;
	if (!last) {
		/* fail early: the client must stop sending chunks */
		if (s->scan->flags != 0) {
			message_finish(s, s->scan->flags, s->scan->size);
			return;
		}
		session_reply(s, 250, "2.0.0", "%llu octets received",
		    (unsigned long long)n);
		return;
	}
	data_scan_end(s->scan);
	message_finish(s, s->scan->flags, s->scan->size);
}

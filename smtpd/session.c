/*
 * session.c — the SMTP state machine of posthorn-smtpd (RFC 5321 with
 * PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS, AUTH,
 * SMTPUTF8, DSN, CHUNKING, ETRN): the session loop, the replies and the
 * command table.  The mail transaction verbs are in txn.c.
 *
 * The protocol is a table: each verb has flags for the generic checks
 * (HELO first, no arguments, not inside a transaction, ...), an optional
 * check function for its own preconditions and a proceed function that
 * does the work, in the style of OpenSMTPD's smtp_session.c.  Every
 * refusal is a reply with an enhanced status code and counts as an error;
 * after smtp_max_errors errors, smtp_timeout of silence or
 * smtp_session_timeout in all, the session ends with a 421.
 *
 * Input: command lines from the peer (hostile: limited to 1000 octets,
 * NUL and bare CR/LF refused).  Trust: the configuration and the local
 * tables; the peer's address only for relay_networks; nothing the peer
 * says about itself.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cidr.h"
#include "common/log.h"
#include "smtpd/smtpd.h"

/* Generic preconditions of a verb. */
#define C_HELO		0x01	/* needs HELO/EHLO first */
#define C_NOARGS	0x02	/* takes no arguments */
#define C_ARGS		0x04	/* needs an argument */
#define C_NOTXN		0x08	/* not inside a mail transaction */

struct smtp_cmd {
	const char *verb;
	unsigned flags;
	int (*check)(struct session *, const char *);
	void (*proceed)(struct session *, const char *);
};


/* ---- replies ---------------------------------------------------------- */

void
session_reply(struct session *s, int code, const char *dsn, const char *fmt,
    ...)
{
	struct buf text = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(&text, fmt, ap) == -1)
		buf_reset(&text);
	va_end(ap);
	if (dsn != NULL)
		stream_printf(&s->io, "%d %s %s\r\n", code, dsn,
		    buf_str(&text));
	else
		stream_printf(&s->io, "%d %s\r\n", code, buf_str(&text));
	buf_free(&text);
	if (code == 421) {
		s->done = true;
		return;
	}
	/* 452 4.5.3 is flow control (RFC 5321 §4.5.3.1.10), not misuse */
	if (code < 400 || (code == 452 && dsn != NULL &&
	    strcmp(dsn, "4.5.3") == 0))
		return;
	s->errors++;
	if (s->cfg->smtp_max_errors > 0 &&
	    s->errors >= s->cfg->smtp_max_errors) {
		log_msg(LOG_WARNING, "too_many_errors", "client", s->peer_ip,
		    (char *)NULL);
		stream_printf(&s->io, "421 4.7.0 %s Too many errors, "
		    "closing connection\r\n", s->cfg->hostname);
		s->done = true;
	}
}


/*
 * A bare CR or LF ended a command line (or an AUTH response) with
 * bare_newline = reject.  What follows it on the same CRLF line would run
 * as a command of its own, one a front end that frames by CRLF never saw
 * (command smuggling): so the session ends here, as Postfix's
 * smtpd_forbid_bare_newline does.
 */
void
session_bare_newline(struct session *s)
{
	log_msg(LOG_NOTICE, "bare_newline", "client", s->peer_ip,
	    "action", "disconnected", (char *)NULL);
	stream_printf(&s->io, "521 5.5.2 %s Bare <CR> or <LF> received, "
	    "closing connection\r\n", s->cfg->hostname);
	s->done = true;
}

/* ---- HELO / EHLO ------------------------------------------------------- */

static int
check_helo(struct session *s, const char *args)
{
	if (!smtp_helo_valid(args)) {
		session_reply(s, 501, "5.5.4", "Invalid domain name");
		return -1;
	}
	return 0;
}

static void
greet_reset(struct session *s, const char *args, bool esmtp)
{
	txn_reset(s);
	snprintf(s->helo, sizeof(s->helo), "%s", args);
	s->helo_done = true;
	s->esmtp = esmtp;
}

static void
do_helo(struct session *s, const char *args)
{
	greet_reset(s, args, false);
	session_reply(s, 250, NULL, "%s", s->cfg->hostname);
}

static void
do_ehlo(struct session *s, const char *args)
{
	struct stream *io = &s->io;

	greet_reset(s, args, true);
	stream_printf(io, "250-%s Hello %s [%s]\r\n", s->cfg->hostname,
	    s->helo, s->peer_ip);
	stream_puts(io, "250-PIPELINING\r\n");
	stream_printf(io, "250-SIZE %llu\r\n",
	    (unsigned long long)s->cfg->max_message_size);
	stream_puts(io, "250-8BITMIME\r\n");
	stream_puts(io, "250-ENHANCEDSTATUSCODES\r\n");
	if (s->tls_available && !s->tls)
		stream_puts(io, "250-STARTTLS\r\n");
	if ((s->mode & SMTPD_SUBMISSION) && s->tls && s->auth_user == NULL)
		stream_puts(io, "250-AUTH PLAIN LOGIN\r\n");
	stream_puts(io, "250-SMTPUTF8\r\n");
	stream_puts(io, "250-DSN\r\n");
	stream_puts(io, "250-ETRN\r\n");
	stream_puts(io, "250 CHUNKING\r\n");
}

/* ---- the other verbs ---------------------------------------------------- */

static void
do_rset(struct session *s, const char *args)
{
	(void)args;
	txn_reset(s);
	session_reply(s, 250, "2.0.0", "Ok");
}

static void
do_noop(struct session *s, const char *args)
{
	(void)args;
	session_reply(s, 250, "2.0.0", "Ok");
}

static void
do_quit(struct session *s, const char *args)
{
	(void)args;
	session_reply(s, 221, "2.0.0", "%s Bye", s->cfg->hostname);
	s->done = true;
}

static void
do_vrfy(struct session *s, const char *args)
{
	(void)args;
	session_reply(s, 252, "2.5.2",
	    "Cannot VRFY user, but will accept message and attempt delivery");
}

static void
do_expn(struct session *s, const char *args)
{
	(void)args;
	session_reply(s, 502, "5.5.1", "EXPN not available");
}

static void
do_help(struct session *s, const char *args)
{
	(void)args;
	session_reply(s, 214, "2.0.0", "See RFC 5321 (posthorn)");
}

static void
do_turn(struct session *s, const char *args)
{
	(void)args;
	session_reply(s, 502, "5.5.1", "TURN is unsafe and not available");
}

static void
do_etrn(struct session *s, const char *args)
{
	struct buf err = BUF_INIT;
	const char *why = NULL;
	const char *dom = args[0] == '@' ? args + 1 : args;

	if (args[0] == '#' || addr_domain_valid(dom, strlen(dom), 0,
	    &why) != 0) {
		session_reply(s, 501, "5.5.4", "Syntax: ETRN domain");
		return;
	}
	if (!config_is_relay_domain(s->cfg, dom)) {
		session_reply(s, 459, "4.7.1", "Node %s not allowed", dom);
		return;
	}
	if (s->sink->flush(s->sink->arg, dom, &err) != 0) {
		log_msg(LOG_WARNING, "etrn_failed", "domain", dom, "reason",
		    buf_str(&err), (char *)NULL);
		buf_free(&err);
		session_reply(s, 458, "4.3.0", "Unable to queue messages for "
		    "node %s", dom);
		return;
	}
	buf_free(&err);
	session_reply(s, 250, "2.0.0", "Queuing for node %s started", dom);
}

static int
check_starttls(struct session *s, const char *args)
{
	(void)args;
	if (s->tls) {
		session_reply(s, 503, "5.5.1", "TLS already active");
		return -1;
	}
	if (!s->tls_available) {
		session_reply(s, 502, "5.5.1", "STARTTLS not available");
		return -1;
	}
	if (tls_session_ctx(s) == NULL) {
		session_reply(s, 454, "4.7.0", "TLS not available due to "
		    "temporary reason");
		return -1;
	}
	return 0;
}

static void
do_starttls(struct session *s, const char *args)
{
	(void)args;
	session_reply(s, 220, "2.0.0", "Ready to start TLS");
	if (stream_flush(&s->io) != 0) {
		s->done = true;
		return;
	}
	if (stream_pending(&s->io) > 0) {
		/* CVE-2011-0411: never answer plaintext inside TLS */
		log_msg(LOG_WARNING, "starttls_injection", "client",
		    s->peer_ip, (char *)NULL);
		stream_discard_input(&s->io);
	}
	txn_reset(s);
	s->helo_done = false;
	s->esmtp = false;
	s->helo[0] = '\0';
	if (tls_start(s) != 0) {
		s->done = true;
		return;
	}
}

static void
do_auth(struct session *s, const char *args)
{
	auth_command(s, args);
}

static const struct smtp_cmd commands[] = {
	{ "HELO",	C_ARGS,			check_helo,	do_helo },
	{ "EHLO",	C_ARGS,			check_helo,	do_ehlo },
	{ "MAIL",	C_HELO | C_ARGS | C_NOTXN, txn_check_mail, txn_mail },
	{ "RCPT",	C_HELO | C_ARGS,	txn_check_rcpt, txn_rcpt },
	{ "DATA",	C_HELO | C_NOARGS,	txn_check_data, txn_data },
	/* no generic checks: the chunk must be read first (do_bdat) */
	{ "BDAT",	0,			NULL,		txn_bdat },
	{ "RSET",	C_NOARGS,		NULL,		do_rset },
	{ "NOOP",	0,			NULL,		do_noop },
	{ "QUIT",	C_NOARGS,		NULL,		do_quit },
	{ "VRFY",	C_ARGS,			NULL,		do_vrfy },
	{ "EXPN",	C_ARGS,			NULL,		do_expn },
	{ "HELP",	0,			NULL,		do_help },
	{ "TURN",	0,			NULL,		do_turn },
	{ "ETRN",	C_HELO | C_ARGS | C_NOTXN, NULL,	do_etrn },
	{ "STARTTLS",	C_HELO | C_NOARGS,	check_starttls,	do_starttls },
	{ "AUTH",	C_HELO | C_ARGS,	NULL,		do_auth },
};

/* The generic checks from the table flags. */
static int
check_generic(struct session *s, const struct smtp_cmd *c, const char *args)
{
	if ((c->flags & C_NOARGS) && args[0] != '\0') {
		session_reply(s, 501, "5.5.4", "Syntax: %s takes no arguments",
		    c->verb);
		return -1;
	}
	if ((c->flags & C_ARGS) && args[0] == '\0') {
		session_reply(s, 501, "5.5.4", "Syntax: %s needs an argument",
		    c->verb);
		return -1;
	}
	if ((c->flags & C_HELO) && !s->helo_done) {
		session_reply(s, 503, "5.5.1", "Send HELO/EHLO first");
		return -1;
	}
	if ((c->flags & C_NOTXN) && s->in_txn) {
		session_reply(s, 503, "5.5.1", "%s",
		    c->proceed == txn_mail ? "Nested MAIL command" :
		    "Not allowed during a mail transaction");
		return -1;
	}
	return 0;
}

static void
dispatch(struct session *s, const char *line, size_t len)
{
	const struct smtp_cmd *c = NULL;
	const char *args;
	size_t vlen;

	smtp_split_verb(line, len, &vlen, &args);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strlen(commands[i].verb) == vlen &&
		    strncasecmp(commands[i].verb, line, vlen) == 0) {
			c = &commands[i];
			break;
		}
	}
	if (c == NULL) {
		session_reply(s, 500, "5.5.2", "Command unrecognized");
		return;
	}
	/* a BDAT transfer admits only more BDAT (and RSET/QUIT/NOOP) */
	if (s->bdat && c->proceed != txn_bdat && c->proceed != do_rset &&
	    c->proceed != do_quit && c->proceed != do_noop) {
		txn_reset(s);
		session_reply(s, 503, "5.5.1", "Only BDAT allowed now");
		return;
	}
	if (check_generic(s, c, args) != 0)
		return;
	if (c->check != NULL && c->check(s, args) != 0)
		return;
	c->proceed(s, args);
}

/* After a failed read: a timeout gets its 421 (true), else false. */
bool
session_read_timeout(struct session *s)
{
	if (errno == ETIMEDOUT || errno == EAGAIN) {
		log_msg(LOG_NOTICE, "timeout", "client", s->peer_ip,
		    (char *)NULL);
		session_reply(s, 421, "4.4.2", "%s Timeout, closing connection",
		    s->cfg->hostname);
		return true;
	}
	return false;
}


/* ---- the session loop ---------------------------------------------------- */

/* The read/write timeout now: smtp_timeout, or less when the session has
 * less time left (at least a second while it may go on). */
int
session_timeout_ms(struct session *s)
{
	time_t used = time(NULL) - s->start;
	uint64_t t = s->cfg->smtp_timeout, total = s->cfg->smtp_session_timeout;

	if (total > 0) {
		uint64_t left = used < 0 || (uint64_t)used >= total ? 1 :
		    total - (uint64_t)used;
		if (t == 0 || left < t)
			t = left;
	}
	if (t == 0 || t > 86400)
		t = 86400;
	return (int)(t * 1000);
}

bool
session_expired(struct session *s)
{
	uint64_t total = s->cfg->smtp_session_timeout;
	time_t used = time(NULL) - s->start;

	return total > 0 && used >= 0 && (uint64_t)used >= total;
}

/* Is a whole line already buffered?  Replies are flushed before the
 * server would wait for input (RFC 2920 §3.1), and only then. */
static bool
line_buffered(const struct session *s)
{
	const char *p = s->io.rbuf + s->io.rpos;
	size_t n = stream_pending(&s->io);

	return n > 0 && (memchr(p, '\n', n) != NULL ||
	    memchr(p, '\r', n) != NULL);
}

/* One command line: read, check its framing, dispatch. */
static void
command(struct session *s)
{
	enum line_end end;
	int r;

	if (s->io.error != 0 || (!line_buffered(s) &&
	    stream_flush(&s->io) != 0)) {
		/* the peer does not take our replies: stop reading */
		log_msg(LOG_INFO, "disconnect", "client", s->peer_ip,
		    "reason", "write_failed", (char *)NULL);
		s->done = true;
		return;
	}
	if (session_expired(s)) {
		session_reply(s, 421, "4.4.2", "%s Session time limit "
		    "exceeded", s->cfg->hostname);
		return;
	}
	s->io.timeout_ms = session_timeout_ms(s);
	r = stream_getline(&s->io, &s->line, SMTP_LINE_MAX, &end);
	if (r == STREAM_TOOLONG) {
		session_reply(s, 500, "5.5.2", "Line too long");
		return;
	}
	if (r == STREAM_EOF || (r == STREAM_LINE && end == LINE_EOF)) {
		log_msg(LOG_INFO, "disconnect", "client", s->peer_ip,
		    "reason", "eof", (char *)NULL);
		s->done = true;
		return;
	}
	if (r != STREAM_LINE) {
		if (!session_read_timeout(s)) {
			log_msg(LOG_INFO, "disconnect", "client", s->peer_ip,
			    "reason", "read_error", (char *)NULL);
			s->done = true;
		}
		return;
	}
	if (end != LINE_CRLF &&
	    s->cfg->bare_newline != BARE_NEWLINE_NORMALIZE) {
		session_bare_newline(s);
		return;
	}
	if (memchr(buf_str(&s->line), '\0', s->line.len) != NULL) {
		session_reply(s, 500, "5.5.2", "NUL octet in command");
		return;
	}
	/* trailing blanks are tolerated (RFC 5321 §4.1.1 has none) */
	while (s->line.len > 0 && (s->line.data[s->line.len - 1] == ' ' ||
	    s->line.data[s->line.len - 1] == '\t'))
		buf_truncate(&s->line, s->line.len - 1);
	dispatch(s, buf_str(&s->line), s->line.len);
}

/* After the last reply: send FIN, then drop what the client still sends
 * (briefly, boundedly) so that closing with unread input does not turn
 * into a reset that destroys our last reply (a 421) in flight. */
static void
linger(struct session *s)
{
	char sink[4096];
	size_t total = 0;
	time_t end = time(NULL) + 2;

	if (s->io.ssl != NULL || shutdown(s->io.wfd, SHUT_WR) != 0)
		return;
	s->io.timeout_ms = 2000;
	while (total < 262144 && time(NULL) < end) {
		ssize_t r = stream_read(&s->io, sink, sizeof(sink));
		if (r <= 0)
			break;
		total += (size_t)r;
	}
}

int
session_init(struct session *s, const struct config *cfg,
    const struct local_tables *t, const struct smtpd_sink *sink,
    unsigned mode, int rfd, int wfd)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->tables = t;
	s->sink = sink;
	s->mode = mode;
	s->start = time(NULL);
	s->auth_delay_ms = 1000;
	snprintf(s->peer_ip, sizeof(s->peer_ip), "unknown");
	envelope_init(&s->env);
	buf_init(&s->line);
	return stream_init(&s->io, rfd, wfd, session_timeout_ms(s));
}

static void
log_close(struct session *s)
{
	struct logline l;

	log_begin(&l, LOG_INFO, "close");
	log_add(&l, "client", s->peer_ip);
	log_addf(&l, "messages", "%u", s->messages);
	log_addf(&l, "errors", "%llu", (unsigned long long)s->errors);
	log_addf(&l, "seconds", "%lld", (long long)(time(NULL) - s->start));
	log_end(&l);
}

void
session_run(struct session *s)
{
	if (s->mode & SMTPD_LOCAL)
		s->relay_client = true;	/* as the sendmail command line */
	else if (s->peer_known)
		s->relay_client = cidrlist_match(&s->cfg->relay_networks,
		    (const struct sockaddr *)&s->peer);
	if ((s->mode & SMTPD_SMTPS) && tls_start(s) != 0) {
		log_msg(LOG_WARNING, "smtps_failed", "client", s->peer_ip,
		    (char *)NULL);
		return;
	}
	session_reply(s, 220, NULL, "%s ESMTP", s->cfg->hostname);
	/* the client's name decides nothing: look it up while the greeting
	 * travels and the client answers it */
	if (stream_flush(&s->io) == 0 && s->peer_lookup != NULL)
		s->peer_lookup(s);
	log_msg(LOG_INFO, "connect", "client", s->peer_ip, "name",
	    s->peer_name, (char *)NULL);
	while (!s->done)
		command(s);
	if (stream_flush(&s->io) == 0)
		linger(s);
	log_close(s);
}

void
session_free(struct session *s)
{
	txn_reset(s);
	envelope_free(&s->env);
	buf_free(&s->line);
	free(s->auth_user);
	s->auth_user = NULL;
	stream_free(&s->io);
	if (s->tls_ctx != NULL)
		SSL_CTX_free(s->tls_ctx);
	s->tls_ctx = NULL;
}

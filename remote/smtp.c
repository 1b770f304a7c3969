/*
 * smtp.c — SMTP/LMTP client connection (see smtp.h).
 *
 * Input: replies from a hostile peer (bounded lines through reply.c, every
 * wait with a deadline), the envelope (already validated by
 * envelope_decode; re-checked here for octets that must never reach the
 * wire) and the message file.  Output: per-recipient results with
 * sanitised peer text.  Nothing from the envelope goes anywhere but the
 * SMTP command lines, and only after the control-character check.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/agent.h"
#include "common/idna.h"
#include "remote/smtp.h"
#include "remote/tls.h"

#define CMD_MAX 2048	/* longest command line we build */
#define QUIT_MS 10000	/* how long we wait for the reply to QUIT */

static void
fail(struct smtp_conn *c, const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
fail(struct smtp_conn *c, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	snprintf(c->err.dsn, sizeof(c->err.dsn), "%s", dsn);
	va_start(ap, fmt);
	vsnprintf(c->err.text, sizeof(c->err.text), fmt, ap);
	va_end(ap);
}

/* Octets that must never appear in a command argument. */
static bool
str_wire_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

void
dsn_with_class(const char *dsn, char cls, char out[16])
{
	char tmp[16];

	if (reply_parse_dsn(dsn, strlen(dsn)) == 0)
		snprintf(tmp, sizeof(tmp), "%c.0.0", cls);
	else
		snprintf(tmp, sizeof(tmp), "%c%s", cls, dsn + 1);
	memcpy(out, tmp, sizeof(tmp));
}

/* ---- connection ------------------------------------------------------ */

static int
connect_to(struct smtp_conn *c, const struct sockaddr *sa)
{
	socklen_t len, elen;
	struct pollfd pfd;
	int fd, r, e = 0;

	len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_un);
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd < 0)
		return -1;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS) {
			e = errno;
			goto bad;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			r = poll(&pfd, 1, c->p.connect_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			e = ETIMEDOUT;
			goto bad;
		}
		elen = sizeof(e);
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e,
		    &elen) < 0) {
			e = errno;
			goto bad;
		}
		if (e != 0)
			goto bad;
	}
	/* Every write is a whole command group or the end of the message;
	 * with Nagle's algorithm the last small segment (".\r\n", a
	 * pipelined group after the body) waits for the peer's delayed ACK,
	 * 40 ms on Linux, per message.  Not fatal if refused (unix socket). */
	if (sa->sa_family != AF_UNIX) {
		int one = 1;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	}
	c->fd = fd;
	return 0;
bad:
	close(fd);
	errno = e;
	return -1;
}

/* "host[ip]:port", or the bare path of a unix socket (LMTP; routes
 * allow only absolute paths, so it starts with '/' and posthorn-bounce
 * knows it names no host for Remote-MTA). */
static void
format_relay(struct smtp_conn *c, const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned port = 0;

	if (sa->sa_family == AF_UNIX) {
		snprintf(c->relay, sizeof(c->relay), "%s",
		    ((const struct sockaddr_un *)sa)->sun_path);
		return;
	}
	ip[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(c->relay, sizeof(c->relay), "%s[%s]:%u", c->host, ip, port);
	c->port = port;
}

void
smtp_close(struct smtp_conn *c)
{
	if (c->active) {
		stream_free(&c->s);
		buf_free(&c->line);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->active = 0;
}

/* ---- replies ------------------------------------------------------------ */

void
smtp_parse_ehlo_line(const char *s, size_t len, unsigned *ext,
    uint64_t *size_max)
{
	static const struct {
		const char *kw;
		unsigned bit;
	} kws[] = {
		{ "PIPELINING", EXT_PIPELINING }, { "SIZE", EXT_SIZE },
		{ "8BITMIME", EXT_8BITMIME }, { "SMTPUTF8", EXT_SMTPUTF8 },
		{ "DSN", EXT_DSN }, { "STARTTLS", EXT_STARTTLS },
		{ "ENHANCEDSTATUSCODES", EXT_ENHANCED },
	};
	size_t i, kl, j;
	uint64_t v;

	for (i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
		kl = strlen(kws[i].kw);
		if (len < kl || strncasecmp(s, kws[i].kw, kl) != 0 ||
		    (len > kl && s[kl] != ' '))
			continue;
		*ext |= kws[i].bit;
		if (kws[i].bit != EXT_SIZE || len <= kl + 1)
			return;
		v = 0;
		for (j = kl + 1; j < len && s[j] >= '0' && s[j] <= '9'; j++) {
			if (v > (UINT64_MAX - 9) / 10) {
				v = 0;	/* absurd: treat as no limit */
				break;
			}
			v = v * 10 + (uint64_t)(s[j] - '0');
		}
		*size_max = v;
		return;
	}
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read one whole reply.  ehlo: collect extensions from its lines.  The
 * time limit is for the whole reply, not for each of its lines: a peer
 * that sends a line now and then must not hold a delivery for hours. */
static int
get_reply(struct smtp_conn *c, struct reply *r, int timeout_ms,
    const char *stage, int ehlo)
{
	int64_t deadline = mono_ms() + timeout_ms, left;
	enum line_end end;
	const char *why;
	int rc;

	reply_init(r);
	for (;;) {
		/* timeout_ms <= 0: no limit (common/io.h) */
		left = deadline - mono_ms();
		c->s.timeout_ms = timeout_ms <= 0 ? timeout_ms :
		    left > 1 ? (int)left : 1;
		rc = stream_getline(&c->s, &c->line, REPLY_LINE_MAX, &end);
		if (rc == STREAM_TOOLONG) {
			fail(c, "4.5.0", "%s sent an overlong reply line while "
			    "%s", c->relay, stage);
			goto broken;
		}
		if (rc == STREAM_ERR && errno == ETIMEDOUT) {
			fail(c, "4.4.2", "conversation with %s timed out "
			    "while %s", c->relay, stage);
			goto broken;
		}
		if (rc != STREAM_LINE || end == LINE_EOF) {
			fail(c, "4.4.2", "lost connection with %s while %s",
			    c->relay, stage);
			goto broken;
		}
		rc = reply_feed(r, buf_str(&c->line), c->line.len, &why);
		if (rc == REPLY_BAD) {
			fail(c, "4.5.0", "%s sent a malformed reply (%s) "
			    "while %s", c->relay, why, stage);
			goto broken;
		}
		if (ehlo && r->nlines > 1 && c->line.len > 4)
			smtp_parse_ehlo_line(c->line.data + 4,
			    c->line.len - 4, &c->ext, &c->size_max);
		if (rc == REPLY_DONE)
			return 0;
	}
broken:
	c->broken = 1;
	return -1;
}

/* A command (or pipelined group) gets the command timeout of its own:
 * the stream's is what the last reply's deadline left over. */
static int
send_cmd(struct smtp_conn *c, const char *cmd, const char *stage)
{
	c->s.timeout_ms = c->p.cmd_ms;
	if (stream_puts(&c->s, cmd) < 0 || stream_puts(&c->s, "\r\n") < 0 ||
	    stream_flush(&c->s) < 0) {
		fail(c, "4.4.2", "lost connection with %s while %s", c->relay,
		    stage);
		c->broken = 1;
		return -1;
	}
	return 0;
}

/* Send cmd and read its reply. */
static int
command(struct smtp_conn *c, const char *cmd, struct reply *r,
    int timeout_ms, const char *stage, int ehlo)
{
	if (send_cmd(c, cmd, stage) < 0)
		return -1;
	return get_reply(c, r, timeout_ms, stage, ehlo);
}

/* ---- greeting, EHLO, STARTTLS --------------------------------------- */

/* The peer's name is the first word of its EHLO/HELO reply; when it is
 * our own, the route leads back to us (as Postfix checks). */
static int
loop_check(struct smtp_conn *c, const struct reply *r)
{
	size_t n, ours = strlen(c->p.helo);
	const char *name;

	if (r->textlen < 5)
		return 0;
	name = r->text + 4;
	n = strcspn(name, " ");
	if (n != ours || strncasecmp(name, c->p.helo, n) != 0)
		return 0;
	fail(c, "4.4.6", "mail for %s loops back to myself (%s answers with "
	    "our name %s)", c->host, c->relay, c->p.helo);
	return -1;
}

static int
hello(struct smtp_conn *c)
{
	char cmd[CMD_MAX], dsn[16];
	struct reply r;

	c->ext = 0;
	c->size_max = 0;
	snprintf(cmd, sizeof(cmd), "%s %s", c->p.lmtp ? "LHLO" : "EHLO",
	    c->p.helo);
	if (command(c, cmd, &r, c->p.cmd_ms, "performing the EHLO handshake",
	    1) < 0)
		return -1;
	if (r.code == 250)
		return loop_check(c, &r);
	/* RFC 5321 3.2, 4.1.1.1: a server that refuses EHLO (500/502, and
	 * 501/504/550 from old ones) gets HELO, and then no extension at
	 * all, whatever the refusal's lines looked like: no PIPELINING,
	 * SIZE, 8BITMIME (an 8-bit body goes as it is), DSN or SMTPUTF8.
	 * Not after TLS (RFC 3207 wants EHLO there) and not for LMTP. */
	c->ext = 0;
	c->size_max = 0;
	if (r.code >= 500 && !c->p.lmtp && !c->tls) {
		snprintf(cmd, sizeof(cmd), "HELO %s", c->p.helo);
		if (command(c, cmd, &r, c->p.cmd_ms,
		    "performing the HELO handshake", 0) < 0)
			return -1;
		if (r.code == 250)
			return loop_check(c, &r);
	}
	dsn_with_class(reply_dsn(&r), '4', dsn);
	fail(c, dsn, "host %s refused to talk to me: %s", c->relay, r.text);
	return -1;
}

bool
smtp_tls_mandatory(enum smtp_tls t)
{
	return t != SMTP_TLS_MAY && t != SMTP_TLS_NONE;
}

const char *
smtp_tls_name(enum smtp_tls t)
{
	switch (t) {
	case SMTP_TLS_NONE:
		return "none";
	case SMTP_TLS_ENCRYPT:
		return "encrypt";
	case SMTP_TLS_VERIFY:
		return "verify";
	case SMTP_TLS_DANE:
		return "dane";
	default:
		return "may";
	}
}

static bool
same_name(const char *a, const char *b)
{
	return strcasecmp(a, b != NULL ? b : "") == 0;
}

static bool
tlsa_has(const struct tlsalist *l, const struct tlsa *t)
{
	size_t i;

	for (i = 0; l != NULL && i < l->n && i < DNS_TLSA_MAX; i++)
		if (l->v[i].usage == t->usage &&
		    l->v[i].selector == t->selector &&
		    l->v[i].mtype == t->mtype && l->v[i].len == t->len &&
		    memcmp(l->v[i].data, t->data, t->len) == 0)
			return true;
	return false;
}

bool
smtp_conn_satisfies(const struct smtp_conn *c, enum smtp_tls tls,
    const char *name, const char *alt_name, const struct tlsalist *tlsa,
    const char **why)
{
	*why = NULL;
	if (!smtp_tls_mandatory(tls))
		return true;
	if (!c->tls)
		*why = "the connection is not encrypted";
	else if (!smtp_tls_mandatory(c->p.tls))
		*why = "the connection's TLS was opportunistic";
	else if (c->tls_res.version < tls_min_version(1))
		*why = "the connection's TLS is older than 1.2";
	else if (tls == SMTP_TLS_VERIFY && (c->p.tls != SMTP_TLS_VERIFY ||
	    !c->tls_res.trusted || !same_name(c->tls_name, name)))
		*why = "the connection's certificate was not verified for "
		    "the host";
	else if (tls == SMTP_TLS_DANE && (c->p.tls != SMTP_TLS_DANE ||
	    !c->tls_res.dane || !same_name(c->tls_name, name) ||
	    !same_name(c->tls_alt_name, alt_name) ||
	    !tlsa_has(tlsa, &c->tls_res.match)))
		*why = "the connection was not authenticated by the host's "
		    "current TLSA records";
	return *why == NULL;
}

static int
starttls(struct smtp_conn *c)
{
	struct reply r;
	struct buf err = BUF_INIT;
	struct tls_want w;
	SSL *ssl;
	int required = smtp_tls_mandatory(c->p.tls);

	if (command(c, "STARTTLS", &r, c->p.cmd_ms, "sending STARTTLS",
	    0) < 0)
		return -1;
	if (r.code != 220) {
		if (!required)
			return 0;	/* carry on in plaintext */
		fail(c, "4.7.4", "TLS is required, but %s refused STARTTLS: "
		    "%s", c->relay, r.text);
		return -1;
	}
	/* anything the peer sent after its 220 is not part of TLS and
	 * could be read as a reply inside TLS: drop it */
	stream_discard_input(&c->s);
	memset(&w, 0, sizeof(w));
	w.name = c->host;
	w.verify = c->p.tls == SMTP_TLS_VERIFY;
	if (c->p.tls == SMTP_TLS_DANE) {
		w.tlsa = c->p.tlsa;
		if (c->p.tls_name != NULL)
			w.name = c->p.tls_name;
		w.alt_name = c->p.tls_alt_name;
	}
	w.min_version = tls_min_version(required);
	w.timeout_ms = c->p.cmd_ms;
	snprintf(c->tls_name, sizeof(c->tls_name), "%s",
	    w.name != NULL ? w.name : "");
	snprintf(c->tls_alt_name, sizeof(c->tls_alt_name), "%s",
	    w.alt_name != NULL ? w.alt_name : "");
	ssl = tls_client_handshake(c->p.ctx, c->fd, &w, &c->tls_res, &err);
	if (ssl == NULL) {
		if (c->tls_res.version_refused)
			fail(c, "4.7.5", "TLS handshake with %s failed: %s; "
			    "TLS 1.0 and 1.1 are not used where TLS is "
			    "required (RFC 8996)", c->relay, buf_str(&err));
		else
			fail(c, "4.7.5", "TLS handshake with %s failed: %s",
			    c->relay, buf_str(&err));
		buf_free(&err);
		c->err.tls_failed = 1;
		c->broken = 1;
		return -1;
	}
	buf_free(&err);
	if (stream_start_tls(&c->s, ssl) < 0) {
		SSL_free(ssl);
		fail(c, "4.7.5", "cannot start TLS with %s", c->relay);
		c->broken = 1;
		return -1;
	}
	c->tls = 1;
	return hello(c);
}

int
smtp_open(struct smtp_conn *c, const char *host, const struct sockaddr *sa,
    const struct smtp_params *p)
{
	struct smtp_conn tmp;
	int rc;

	memset(&tmp, 0, sizeof(tmp));
	tmp.fd = -1;
	tmp.p = *p;
	snprintf(tmp.host, sizeof(tmp.host), "%s", host);
	format_relay(&tmp, sa);
	if (connect_to(&tmp, sa) < 0) {
		*c = tmp;
		fail(c, "4.4.1", "connect to %s: %s", c->relay,
		    strerror(errno));
		return -1;
	}
	rc = smtp_start(c, tmp.fd, host, tmp.relay, p);
	c->port = tmp.port;
	return rc;
}

int
smtp_start(struct smtp_conn *c, int fd, const char *host, const char *relay,
    const struct smtp_params *p)
{
	struct reply r;
	char dsn[16];
	int required = smtp_tls_mandatory(p->tls);

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->p = *p;
	snprintf(c->host, sizeof(c->host), "%s", host);
	snprintf(c->relay, sizeof(c->relay), "%s", relay);
	snprintf(c->tls_res.desc, sizeof(c->tls_res.desc), "none");
	buf_init(&c->line);
	if (stream_init(&c->s, c->fd, c->fd, p->cmd_ms) < 0) {
		fail(c, "4.3.0", "out of memory");
		buf_free(&c->line);
		smtp_close(c);
		return -1;
	}
	c->active = 1;
	if (get_reply(c, &r, p->cmd_ms, "receiving the initial greeting",
	    0) < 0)
		goto bad;
	if (r.code != 220) {
		dsn_with_class(reply_dsn(&r), '4', dsn);
		fail(c, dsn, "host %s refused to talk to me: %s", c->relay,
		    r.text);
		goto bad;
	}
	if (hello(c) < 0)
		goto bad;
	if ((c->ext & EXT_STARTTLS) && p->tls != SMTP_TLS_NONE &&
	    p->ctx != NULL) {
		if (starttls(c) < 0)
			goto bad;
	} else if (required) {
		fail(c, "4.7.4", "TLS is required, but was not offered by %s",
		    c->relay);
		goto bad;
	}
	if (required && !c->tls) {
		fail(c, "4.7.4", "TLS is required, but %s did not start it",
		    c->relay);
		goto bad;
	}
	/* a TLSA set none of whose records is usable asks for TLS only,
	 * not for a verified certificate (RFC 7672 2.2) */
	if ((p->tls == SMTP_TLS_VERIFY || (p->tls == SMTP_TLS_DANE &&
	    p->tlsa != NULL && p->tlsa->n > 0 && !c->tls_res.dane_unusable)) &&
	    !c->tls_res.trusted) {
		fail(c, "4.7.5", "server certificate of %s not verified",
		    c->relay);
		goto bad;
	}
	return 0;
bad:
	smtp_quit(c);
	return -1;
}

void
smtp_quit(struct smtp_conn *c)
{
	struct reply r;

	/* the answer to QUIT changes nothing: wait for it only briefly */
	if (c->active && !c->broken &&
	    send_cmd(c, "QUIT", "sending QUIT") == 0)
		(void)get_reply(c, &r, c->p.cmd_ms < QUIT_MS ? c->p.cmd_ms :
		    QUIT_MS, "sending QUIT", 0);
	smtp_close(c);
}

int
smtp_rset(struct smtp_conn *c)
{
	struct reply r;

	if (!c->active || c->broken)
		return -1;
	if (command(c, "RSET", &r, c->p.cmd_ms, "sending RSET", 0) < 0)
		return -1;
	if (r.code != 250) {
		c->broken = 1;
		return -1;
	}
	return 0;
}

/* ---- one transaction ------------------------------------------------ */

static void
set_res(struct rres *x, struct smtp_conn *c, char status, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
set_res(struct rres *x, struct smtp_conn *c, char status, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;

	x->status = status;
	snprintf(x->dsn, sizeof(x->dsn), "%s", dsn);
	va_start(ap, fmt);
	vsnprintf(x->text, sizeof(x->text), fmt, ap);
	va_end(ap);
	snprintf(x->relay, sizeof(x->relay), "%s", c->relay);
	snprintf(x->tls, sizeof(x->tls), "%s", c->tls ? c->tls_res.desc : "none");
}

/* A reply to a command for one recipient: D, P or T. */
static void
res_from_reply(struct rres *x, struct smtp_conn *c, const struct reply *r,
    const char *cmd)
{
	char dsn[16];

	if (r->code >= 200 && r->code < 300) {
		set_res(x, c, 'D', reply_dsn(r), "%s", r->text);
		return;
	}
	if (r->code >= 500) {
		set_res(x, c, 'P', reply_dsn(r), "host %s said: %s (in reply "
		    "to %s)", c->relay, r->text, cmd);
		return;
	}
	dsn_with_class(reply_dsn(r), '4', dsn);
	set_res(x, c, 'T', dsn, "host %s said: %s (in reply to %s)",
	    c->relay, r->text, cmd);
}

/* Every recipient still to do gets the connection's error. */
static void
fail_all(struct smtp_conn *c, const bool *todo, size_t n, struct rres *res)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (todo[i] && res[i].status == 0)
			set_res(&res[i], c, 'T', c->err.dsn, "%s",
			    c->err.text);
}

static void
perm_all(struct smtp_conn *c, const bool *todo, size_t n, struct rres *res,
    const char *dsn, const char *text)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (todo[i] && res[i].status == 0)
			set_res(&res[i], c, 'P', dsn, "%s", text);
}

static void
fail_all_text(struct smtp_conn *c, const bool *todo, size_t n,
    struct rres *res, const char *dsn, const char *text)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (todo[i] && res[i].status == 0)
			set_res(&res[i], c, 'T', dsn, "%s", text);
}

static int
mail_cmd(struct smtp_conn *c, const struct envelope *env, const char *sender,
    const struct body_info *info, bool utf8, struct buf *out)
{
	int r;

	r = buf_printf(out, "MAIL FROM:<%s>", sender);
	/* RFC 1870: the octets on the wire (CRLF line ends, dot-stuffed) of
	 * the message's env.size octets, as body_scan() counted them */
	if (r >= 0 && (c->ext & EXT_SIZE))
		r = buf_printf(out, " SIZE=%llu",
		    (unsigned long long)info->wire_size);
	if (r >= 0 && (c->ext & EXT_8BITMIME) &&
	    (env->body != BODY_7BIT || info->eightbit))
		r = buf_append_str(out, " BODY=8BITMIME");
	if (r >= 0 && utf8)
		r = buf_append_str(out, " SMTPUTF8");
	if (r >= 0 && (c->ext & EXT_DSN) && env->ret != RET_DEFAULT)
		r = buf_append_str(out, env->ret == RET_FULL ? " RET=FULL" :
		    " RET=HDRS");
	if (r >= 0 && (c->ext & EXT_DSN) && env->envid != NULL) {
		r = buf_append_str(out, " ENVID=");
		if (r >= 0)
			r = xtext_encode(env->envid, strlen(env->envid), out);
	}
	return r < 0 ? -1 : 0;
}

/* ORCPT as stored is "type;xtext"; pass it only when it looks sane. */
static bool
orcpt_ok(const char *o)
{
	const char *semi = strchr(o, ';');
	struct buf tmp = BUF_INIT;
	bool ok;
	const char *p;

	if (semi == NULL || semi == o || strlen(o) > 500)
		return false;
	for (p = o; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '=')
			return false;
	ok = xtext_decode(semi + 1, strlen(semi + 1), &tmp) == 0;
	buf_free(&tmp);
	return ok;
}

static int
rcpt_cmd(struct smtp_conn *c, const struct rcpt *rc, const char *addr,
    struct buf *out)
{
	char notify[64];
	int r;

	r = buf_printf(out, "RCPT TO:<%s>", addr != NULL ? addr : rc->addr);
	if (r >= 0 && (c->ext & EXT_DSN) && rc->notify != 0 &&
	    notify_format(rc->notify, notify, sizeof(notify)) >= 0)
		r = buf_printf(out, " NOTIFY=%s", notify);
	if (r >= 0 && (c->ext & EXT_DSN) && rc->orcpt != NULL &&
	    orcpt_ok(rc->orcpt))
		r = buf_printf(out, " ORCPT=%s", rc->orcpt);
	return r < 0 ? -1 : 0;
}

/* For a server without SMTPUTF8: addr with its domain in A-labels when
 * only the domain is non-ASCII.  0 with *out (malloc'd), -1 impossible,
 * -2 out of memory. */
static int
ascii_addr(const char *addr, char **out)
{
	char tmp[1024];

	if (idna_addr_ascii(addr, tmp, sizeof(tmp)) < 0)
		return -1;
	if ((*out = strdup(tmp)) == NULL)
		return -2;
	return 0;
}

/* Checks that need no round trip: size, SMTPUTF8, unsafe octets.  For a
 * server without SMTPUTF8, addresses whose only non-ASCII part is the
 * domain get their A-label form in *sw / rw[i] (malloc'd).  Returns the
 * number of recipients left to send. */
static size_t
precheck(struct smtp_conn *c, const struct envelope *env, const bool *todo,
    const struct body_info *info, struct rres *res, bool *utf8, char **sw,
    char **rw)
{
	int k;

	char text[DIAG_MAX + 1];
	size_t i, left = 0;

	*utf8 = str_has_8bit(env->sender);
	for (i = 0; i < env->nrcpts; i++)
		if (todo[i] && str_has_8bit(env->rcpts[i].addr))
			*utf8 = true;
	if (!str_wire_safe(env->sender)) {
		perm_all(c, todo, env->nrcpts, res, "5.1.7",
		    "sender address contains control characters");
		return 0;
	}
	if (c->size_max > 0 && info->wire_size > c->size_max) {
		snprintf(text, sizeof(text), "message size %llu exceeds size "
		    "limit %llu of server %s",
		    (unsigned long long)info->wire_size,
		    (unsigned long long)c->size_max, c->relay);
		perm_all(c, todo, env->nrcpts, res, "5.3.4", text);
		return 0;
	}
	if (!(c->ext & EXT_SMTPUTF8) && env->smtputf8 && info->header8bit) {
		/* RFC 6531 3.2: UTF-8 headers need SMTPUTF8 end to end */
		snprintf(text, sizeof(text), "SMTPUTF8 is required for the "
		    "message's UTF-8 header, but was not offered by host %s",
		    c->relay);
		perm_all(c, todo, env->nrcpts, res, "5.6.7", text);
		return 0;
	}
	if (*utf8 && !(c->ext & EXT_SMTPUTF8) && str_has_8bit(env->sender) &&
	    (k = ascii_addr(env->sender, sw)) < 0) {
		snprintf(text, sizeof(text), "SMTPUTF8 is required, but was "
		    "not offered by host %s", c->relay);
		if (k == -2)
			fail_all_text(c, todo, env->nrcpts, res, "4.3.0",
			    "out of memory");
		else
			perm_all(c, todo, env->nrcpts, res, "5.6.7", text);
		return 0;
	}
	for (i = 0; i < env->nrcpts; i++) {
		if (!todo[i])
			continue;
		if (!str_wire_safe(env->rcpts[i].addr))
			set_res(&res[i], c, 'P', "5.1.3", "recipient address "
			    "contains control characters");
		else if (str_has_8bit(env->rcpts[i].addr) &&
		    !(c->ext & EXT_SMTPUTF8) &&
		    (k = ascii_addr(env->rcpts[i].addr, &rw[i])) < 0) {
			if (k == -2)
				set_res(&res[i], c, 'T', "4.3.0", "out of "
				    "memory");
			else
				set_res(&res[i], c, 'P', "5.6.7", "SMTPUTF8 "
				    "is required, but was not offered by host "
				    "%s", c->relay);
		} else
			left++;
	}
	if (env->smtputf8 && info->header8bit)
		*utf8 = true;
	if (!(c->ext & EXT_SMTPUTF8))
		*utf8 = false;
	return left;
}

/* The recipients we send RCPT for: todo and not settled by precheck. */
static bool
sending(const bool *todo, const struct rres *res, size_t i)
{
	return todo[i] && res[i].status == 0;
}

/*
 * A recipient's result from the reply to the final dot.  When the peer
 * offered DSN, rcpt_cmd() gave it the recipient's NOTIFY, and by RFC 3461
 * 4.2 the peer now owes the success notice: the text says so with
 * AGENT_TEXT_DSN_PASSED in front (peer text always starts with its code,
 * so a peer cannot forge the mark), and posthorn-bounce sends no
 * "relayed" notice of its own.  An LMTP server's 2xx is a final delivery:
 * AGENT_TEXT_FINAL in front, so that a success notice says "delivered".
 */
static void
data_result(struct rres *x, struct smtp_conn *c, const struct reply *r,
    const struct rcpt *rc)
{
	res_from_reply(x, c, r, "end of DATA command");
	if (x->status == 'D' && (c->ext & EXT_DSN) && rc->notify != 0)
		set_res(x, c, 'D', reply_dsn(r), "%s%s", AGENT_TEXT_DSN_PASSED,
		    r->text);
	else if (x->status == 'D' && c->p.lmtp)
		set_res(x, c, 'D', reply_dsn(r), "%s%s", AGENT_TEXT_FINAL,
		    r->text);
}

/* After DATA's 354: body (the message file's first info->msg_size
 * octets), final dot, and the reply (or, for LMTP, one reply per accepted
 * recipient, in RCPT order). */
/*
 * The connection broke while we sent the body.  A server that refuses a
 * message in the middle (too large, refused content) may say so before it
 * closes; as Postfix does, a 4xx or 5xx reply already received decides
 * for the accepted recipients, instead of a retry of the whole message
 * until it expires.  Anything else (no reply, a 2xx or 3xx before the
 * end of the data) keeps the lost connection, a temporary failure.
 */
static void
early_reply(struct smtp_conn *c, const struct envelope *env, const bool *acc,
    struct rres *res)
{
	struct smtp_err lost = c->err;
	struct reply r;
	size_t i;

	stream_drop_output(&c->s);
	if (get_reply(c, &r, c->p.cmd_ms < QUIT_MS ? c->p.cmd_ms : QUIT_MS,
	    "sending message body", 0) == 0 && r.code >= 400)
		for (i = 0; i < env->nrcpts; i++)
			if (acc[i])
				res_from_reply(&res[i], c, &r,
				    "end of DATA command");
	c->err = lost;
	c->broken = 1;
}

static int
send_data(struct smtp_conn *c, const struct envelope *env, const bool *acc,
    int msgfd, const struct body_info *info, struct rres *res)
{
	static const char stage[] = "sending end of data -- message may be "
	    "sent more than once";
	const char *why;
	struct reply r;
	size_t i;
	int rc;

	c->s.timeout_ms = c->p.data_block_ms;
	rc = body_send(msgfd, info->msg_size, &c->s, &why);
	if (rc < 0) {
		c->broken = 1;
		if (rc == BODY_ERR_READ)
			fail(c, "4.3.0", "cannot send the message: %s", why);
		else if (errno == ETIMEDOUT)
			fail(c, "4.4.2", "conversation with %s timed out while "
			    "sending message body", c->relay);
		else {
			fail(c, "4.4.2", "lost connection with %s while "
			    "sending message body", c->relay);
			early_reply(c, env, acc, res);
		}
		return -1;
	}
	if (!c->p.lmtp) {
		if (get_reply(c, &r, c->p.data_end_ms, stage, 0) < 0)
			return -1;
		for (i = 0; i < env->nrcpts; i++)
			if (acc[i])
				data_result(&res[i], c, &r, &env->rcpts[i]);
		return 0;
	}
	for (i = 0; i < env->nrcpts; i++) {
		if (!acc[i])
			continue;
		if (get_reply(c, &r, c->p.data_end_ms, stage, 0) < 0)
			return -1;
		data_result(&res[i], c, &r, &env->rcpts[i]);
	}
	return 0;
}

/* RFC 5321 4.5.3.1.10: a server's limit on recipients per message is
 * "452", with X.5.3 "too many recipients" (RFC 3463) where it says more;
 * "452 4.2.2 mailbox full" is something else. */
static bool
too_many(const struct reply *r)
{
	return r->code == 452 && (r->dsn[0] == '\0' ||
	    strcmp(r->dsn + 1, ".5.3") == 0);
}

/* Read the replies to MAIL and the RCPTs for sent[i] (already sent when
 * pipelined; sent one by one here otherwise).  acc[i]: RCPT i accepted. */
static int
mail_rcpt_replies(struct smtp_conn *c, const struct envelope *env,
    char *const *rw, const bool *sent, struct rres *res, bool *acc,
    size_t *nacc, int pipelined, int *mail_ok)
{
	struct buf cmd = BUF_INIT;
	struct reply mr, r;
	size_t i;
	int rc = -1;

	*nacc = 0;
	if (get_reply(c, &mr, c->p.cmd_ms, "sending MAIL FROM", 0) < 0)
		return -1;
	*mail_ok = mr.code >= 200 && mr.code < 300;
	for (i = 0; i < env->nrcpts; i++) {
		acc[i] = false;
		if (!sent[i])
			continue;
		if (!*mail_ok) {
			res_from_reply(&res[i], c, &mr, "MAIL FROM command");
			if (!pipelined)
				continue;
		} else if (!pipelined) {
			buf_reset(&cmd);
			if (rcpt_cmd(c, &env->rcpts[i], rw[i], &cmd) < 0 ||
			    send_cmd(c, buf_str(&cmd), "sending RCPT TO") < 0)
				goto out;
		}
		if (get_reply(c, &r, c->p.cmd_ms, "sending RCPT TO", 0) < 0)
			goto out;
		if (!*mail_ok)
			continue;	/* pipelined after a failed MAIL */
		if (r.code >= 200 && r.code < 300) {
			acc[i] = true;
			(*nacc)++;
		} else {
			res_from_reply(&res[i], c, &r, "RCPT TO command");
			res[i].again = too_many(&r);
		}
	}
	/* without progress another transaction would get the same */
	for (i = 0; i < env->nrcpts && *nacc == 0; i++)
		res[i].again = false;
	rc = 0;
out:
	buf_free(&cmd);
	return rc;
}

int
smtp_transaction(struct smtp_conn *c, const struct envelope *env,
    const bool *todo, int msgfd, const struct body_info *info,
    struct rres *res)
{
	struct buf cmd = BUF_INIT;
	struct reply r;
	bool utf8, *acc = NULL, *sent = NULL;
	char *sw = NULL, **rw;
	size_t i, nacc = 0;
	int pipelined, mail_ok = 0, rc = -1;

	for (i = 0; i < env->nrcpts; i++)
		if (todo[i])
			memset(&res[i], 0, sizeof(res[i]));
	if ((rw = xcalloc_array(env->nrcpts ? env->nrcpts : 1,
	    sizeof(*rw))) == NULL) {
		fail(c, "4.3.0", "out of memory");
		fail_all(c, todo, env->nrcpts, res);
		return 0;
	}
	if (precheck(c, env, todo, info, res, &utf8, &sw, rw) == 0) {
		rc = 0;
		goto out;
	}
	acc = xcalloc_array(env->nrcpts, sizeof(*acc));
	sent = xcalloc_array(env->nrcpts, sizeof(*sent));
	if (acc == NULL || sent == NULL) {
		fail(c, "4.3.0", "out of memory");
		goto out;
	}
	for (i = 0; i < env->nrcpts; i++)
		sent[i] = sending(todo, res, i);
	pipelined = (c->ext & EXT_PIPELINING) != 0;
	if (mail_cmd(c, env, sw != NULL ? sw : env->sender, info, utf8,
	    &cmd) < 0 ||
	    buf_append(&cmd, "\r\n", 2) < 0)
		goto nomem;
	if (pipelined) {
		for (i = 0; i < env->nrcpts; i++)
			if (sent[i] && (rcpt_cmd(c, &env->rcpts[i], rw[i],
			    &cmd) < 0 ||
			    buf_append(&cmd, "\r\n", 2) < 0))
				goto nomem;
		if (buf_append_str(&cmd, "DATA\r\n") < 0)
			goto nomem;
	}
	buf_truncate(&cmd, cmd.len - 2);
	if (send_cmd(c, buf_str(&cmd), "sending MAIL FROM") < 0)
		goto lost;
	if (mail_rcpt_replies(c, env, rw, sent, res, acc, &nacc, pipelined,
	    &mail_ok) < 0)
		goto lost;
	if (pipelined) {
		if (get_reply(c, &r, c->p.data_init_ms, "sending DATA",
		    0) < 0)
			goto lost;
	} else if (mail_ok && nacc > 0) {
		if (command(c, "DATA", &r, c->p.data_init_ms, "sending DATA",
		    0) < 0)
			goto lost;
	} else
		r.code = 0;
	if (r.code == 354 && nacc == 0) {
		/* a server that said 354 without recipients: end it */
		if (send_cmd(c, ".", "sending end of data") < 0 ||
		    get_reply(c, &r, c->p.data_end_ms, "sending end of data",
		    0) < 0)
			goto lost;
	} else if (r.code == 354) {
		if (send_data(c, env, acc, msgfd, info, res) < 0)
			goto lost;
	} else if (nacc > 0 && mail_ok && r.code < 400) {
		/* DATA answered with anything but 354 or an error: no
		 * message went out, so nothing is delivered; and replies
		 * may be out of step from here on (a stray 250 earlier) */
		fail(c, "4.5.0", "host %s gave an unexpected reply to DATA: "
		    "%s", c->relay, r.text);
		goto lost;
	} else if (nacc > 0 && mail_ok) {
		for (i = 0; i < env->nrcpts; i++)
			if (acc[i])
				res_from_reply(&res[i], c, &r, "DATA command");
	}
	if (!(mail_ok && nacc > 0 && r.code == 354))
		rc = smtp_rset(c);
	else
		rc = 0;
	goto out;
nomem:
	fail(c, "4.3.0", "out of memory");
lost:
	fail_all(c, sent, env->nrcpts, res);
	c->broken = 1;
	rc = -1;
out:
	for (i = 0; i < env->nrcpts; i++)
		free(rw[i]);
	free(rw);
	free(sw);
	free(acc);
	free(sent);
	buf_free(&cmd);
	return rc;
}

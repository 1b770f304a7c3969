/*
 * forward.c — forwarding: addresses an alias or a .forward names that are
 * not delivered here (other local users, remote domains) are handed back
 * to the queue as ONE new message through common/qclient.h.  The envelope
 * sender stays the original sender (no SRS yet), the recipients are the
 * expanded addresses, and the message gets a "Delivered-To: RCPT" line on
 * top, so that a forwarding loop comes back here with our own
 * Delivered-To and ends with 5.4.6.  The body is the message's first
 * msgsize octets, nothing after them.  The queue's verdict decides: 2xx
 * done, 4xx temporary, 5xx permanent.
 *
 * The copy keeps the message's BODY= (8BITMIME) and SMTPUTF8, and gets
 * SMTPUTF8 when an expanded address is not ASCII (RFC 6531).
 *
 * DSN (RFC 3461 6.2.7): the copy keeps the message's RET and ENVID, and
 * each forwarded address gets the recipient's ORCPT (or, without one,
 * "rfc822;RCPT" when RCPT is ASCII) and its NOTIFY without SUCCESS: the
 * success notice, if asked for, is ours, sent for the forwarding itself
 * ("forwarded to N addresses"); NOTIFY=SUCCESS alone becomes NEVER.
 * Failures and delays further on still reach the sender as requested.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/agent.h"
#include "common/envelope.h"
#include "common/qclient.h"
#include "local/local.h"

/* The ORCPT for the forwarded addresses, in out ("" for none). */
static int
forward_orcpt(const struct lctx *c, struct buf *out)
{
	const char *p;

	if (c->orcpt != NULL)
		return buf_append(out, c->orcpt, strlen(c->orcpt));
	for (p = c->rcpt; *p != '\0'; p++)
		if ((unsigned char)*p > 0x7e || (unsigned char)*p < 0x20)
			return 0;	/* UTF-8 needs utf-8-addr-xtext */
	if (buf_append(out, "rfc822;", 7) == -1)
		return -1;
	return xtext_encode(c->rcpt, strlen(c->rcpt), out);
}

static int
build_env(const struct lctx *c, char *const *addrs, const bool *own,
    size_t n, struct envelope *e)
{
	long k;
	struct buf orcpt = BUF_INIT;
	unsigned notify = c->notify & ~(unsigned)NOTIFY_SUCCESS;
	size_t i;
	int rc = -1;

	if (c->notify != 0 && notify == 0)
		notify = NOTIFY_NEVER;
	envelope_init(e);
	e->ret = c->ret;
	e->body = c->body;
	/* the message's own SMTPUTF8, or an address of the expansion that
	 * needs it (the queue refuses a non-ASCII address without it) */
	e->smtputf8 = c->smtputf8 || str_has_8bit(c->sender);
	for (i = 0; i < n; i++)
		if (str_has_8bit(addrs[i]))
			e->smtputf8 = true;
	if (envelope_set_sender(e, c->sender) == -1 ||
	    envelope_set_str(&e->client_addr, "local") == -1 ||
	    envelope_set_str(&e->protocol, "local") == -1 ||
	    (c->envid != NULL && envelope_set_str(&e->envid, c->envid) == -1) ||
	    forward_orcpt(c, &orcpt) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		k = envelope_add_rcpt(e, addrs[i], notify, orcpt.len > 0 ?
		    buf_str(&orcpt) : NULL);
		if (k < 0)
			goto out;
		e->rcpts[k].own_mailbox = own[i];
	}
	rc = 0;
out:
	buf_free(&orcpt);
	return rc;
}

static int
send_body(const struct lctx *c, struct qclient *q)
{
	static char chunk[65536];
	struct buf dt = BUF_INIT;
	uint64_t off = 0;
	ssize_t got;
	int rc;

	rc = buf_printf(&dt, "Delivered-To: %s\n", c->rcpt);
	if (rc != -1)
		rc = qclient_write(q, dt.data, dt.len);
	buf_free(&dt);
	while (rc != -1) {
		if (off >= c->msgsize)
			return 0;
		got = agent_msg_read(c->msgfd, c->msgsize, chunk,
		    sizeof(chunk), off);
		if (got <= 0)
			return -2;	/* our read failed */
		off += (uint64_t)got;
		rc = qclient_write(q, chunk, (size_t)got);
	}
	return -1;
}

void
forward_deliver(const struct lctx *c, char *const *addrs, const bool *own,
    size_t n, struct lresult *r)
{
	struct envelope e;
	struct buf err = BUF_INIT;
	struct qclient *q;
	struct qresult res;

	if (build_env(c, addrs, own, n, &e) == -1) {
		envelope_free(&e);
		res_set(r, 'P', "5.1.3", "cannot forward: invalid address in "
		    "expansion");
		return;
	}
	q = qclient_open(c->cfg->queue_socket, &err);
	if (q == NULL) {
		res_set(r, 'T', "4.3.0", "cannot forward: %s", buf_str(&err));
		goto out;
	}
	/* a queue-side failure is reported by qclient_finish; a failure to
	 * read our own message must never commit a truncated copy */
	if (qclient_envelope(q, &e) == 0 && send_body(c, q) == -2) {
		qclient_abort(q);
		res_set(r, 'T', "4.3.0", "cannot forward: reading the "
		    "message: %s", strerror(errno));
		goto out;
	}
	memset(&res, 0, sizeof(res));
	qclient_finish(q, &res);
	if (res.dsn[0] != (res.code >= 500 ? '5' : '4'))
		res.dsn[0] = '\0';
	if (res.code >= 200 && res.code < 300)
		res_set(r, 'D', "2.0.0", "forwarded to %zu address%s as %s",
		    n, n == 1 ? "" : "es", res.qid);
	else
		res_set(r, res.code >= 500 ? 'P' : 'T',
		    res.dsn[0] != '\0' ? res.dsn :
		    res.code >= 500 ? "5.3.0" : "4.3.0",
		    "forwarding refused by the queue: %d %s", res.code,
		    res.text);
out:
	buf_free(&err);
	envelope_free(&e);
}

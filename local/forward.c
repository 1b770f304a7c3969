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
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/agent.h"
#include "common/envelope.h"
#include "common/qclient.h"
#include "local/local.h"

static int
build_env(const struct lctx *c, char *const *addrs, size_t n,
    struct envelope *e)
{
	size_t i;

	envelope_init(e);
	if (envelope_set_sender(e, c->sender) == -1 ||
	    envelope_set_str(&e->client_addr, "local") == -1 ||
	    envelope_set_str(&e->protocol, "local") == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (envelope_add_rcpt(e, addrs[i], 0, NULL) < 0)
			return -1;
	return 0;
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
forward_deliver(const struct lctx *c, char *const *addrs, size_t n,
    struct lresult *r)
{
	struct envelope e;
	struct buf err = BUF_INIT;
	struct qclient *q;
	struct qresult res;

	if (build_env(c, addrs, n, &e) == -1) {
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

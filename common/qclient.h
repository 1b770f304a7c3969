/*
 * qclient.h — the client side of the injection protocol (qmail's qmail.h
 * in spirit): open a connection to posthorn-queue's unix socket, send the
 * envelope and the message, and learn whether the queue took it.  Used by
 * posthorn-smtpd, sendmail and posthorn-bounce.  The wire format is in
 * queue/PROTOCOL.md.  The message is streamed (never held whole in memory);
 * its bytes are the RFC 5322 message with LF line ends, no dot-stuffing.
 *
 *   struct qclient *q = qclient_open(cfg->queue_socket, &err);
 *   qclient_envelope(q, &env);     (or _announce, then qclient_qid)
 *   qclient_write(q, data, n);  ...
 *   qclient_finish(q, &res);    -> res.code 250 / 451 / 452 / 552 / 554
 */
#ifndef POSTHORN_QCLIENT_H
#define POSTHORN_QCLIENT_H

#include <stddef.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "common/qid.h"

struct qresult {
	int code;		/* SMTP-style: 250 ok, 4xx temporary, 5xx
				   permanent */
	char dsn[16];		/* "2.0.0", "4.3.1", "5.3.4", ... */
	char text[256];		/* human text, printable ASCII */
	char qid[QID_LEN + 1];	/* on success */
};

struct qclient;

/* Connect.  NULL on failure, with a reason in err (the caller answers
 * 451 4.3.0 / exits 75). */
struct qclient *qclient_open(const char *socket_path, struct buf *err);
int qclient_envelope(struct qclient *q, const struct envelope *e);
/* Send the envelope as frame A (queue/PROTOCOL.md §1a): the queue answers
 * at once with frame I, the id it gives the message.  Does not wait for
 * that answer, so the caller can do other work (posthorn-smtpd sends its
 * 354) while the queue creates its file; qclient_qid() reads it later. */
int qclient_envelope_announce(struct qclient *q, const struct envelope *e);
/* Wait for the I frame after qclient_envelope_announce(), so the caller
 * can name the id in its Received header before writing data.  0 with qid
 * "" when the queue has already refused the envelope (the verdict after
 * the data says why); -1 when the queue went away or answered nonsense
 * (qclient_finish then reports 451 4.3.0 without reading further).
 * qclient_finish() reads a pending I frame itself. */
int qclient_qid(struct qclient *q, char qid[QID_LEN + 1]);
/* Both in one step: send A, wait for I. */
int qclient_envelope_qid(struct qclient *q, const struct envelope *e,
    char qid[QID_LEN + 1]);
/* Stream message bytes; -1 if the queue went away (then finish reports). */
int qclient_write(struct qclient *q, const void *p, size_t n);
/* End the message and wait for the verdict (fsync done when 250).  Always
 * fills res; frees q.  Returns 0 when res->code is 2xx, else -1. */
int qclient_finish(struct qclient *q, struct qresult *res);
/* Abandon the message (nothing is queued); frees q. */
void qclient_abort(struct qclient *q);

/* Ask the queue to make deferred mail due now: every message when domain
 * is NULL (sendmail -q), else those with recipients in domain (ETRN).
 * Returns 0 when the queue accepted the request; -1 when it could not be
 * reached or answered a temporary failure (4xx); -2 when it refused the
 * request itself (5xx, e.g. 501 5.5.4 for an invalid domain).  err says
 * why ("CODE DSN TEXT" when the queue answered). */
int qclient_flush(const char *socket_path, const char *domain,
    struct buf *err);

/* Ask the queue to remove message qid (sendmail -Mrm): 0 when the
 * scheduler was told (it removes the message at once, or when the
 * delivery attempt under way ends; no notice is sent); -1 as for
 * qclient_flush; -2 when refused (not root or the spool's owner, no such
 * message, an invalid queue id), err then "CODE DSN TEXT". */
int qclient_remove(const char *socket_path, const char *qid,
    struct buf *err);

/* mailq: write a Postfix-mailq-like listing of the queue to out (queue
 * id, size, arrival, sender; each pending recipient with its last status
 * and diagnostic; a "-- N Kbytes in M Requests." summary, or "Mail queue
 * is empty").  0 ok; -1 with err (nothing or a partial listing written). */
int qclient_list(const char *socket_path, FILE *out, struct buf *err);

#endif

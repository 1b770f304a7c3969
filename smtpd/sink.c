/*
 * sink.c — the production message sink of posthorn-smtpd: messages go to
 * posthorn-queue through common/qclient.h (the envelope is announced with
 * frame A and the queue id read back only when the first octets go out),
 * ETRN becomes a queue flush, and credentials go to the checkpassword
 * program (auth.c).  Tests and the fuzzer use their own sinks with the
 * same interface.
 */
#include "smtpd/smtpd.h"

static void *
q_open(void *arg, struct buf *err)
{
	const struct config *cfg = arg;

	return qclient_open(cfg->queue_socket, err);
}

static int
q_envelope(void *h, const struct envelope *e)
{
	return qclient_envelope_announce(h, e);
}

static int
q_qid(void *h, char qid[QID_LEN + 1])
{
	return qclient_qid(h, qid);
}

static int
q_write(void *h, const void *p, size_t n)
{
	return qclient_write(h, p, n);
}

static int
q_finish(void *h, struct qresult *res)
{
	return qclient_finish(h, res);
}

static void
q_abort(void *h)
{
	qclient_abort(h);
}

static int
q_flush(void *arg, const char *domain, struct buf *err)
{
	const struct config *cfg = arg;

	return qclient_flush(cfg->queue_socket, domain, err);
}

static int
q_checkpass(void *arg, const char *user, const char *pass)
{
	return checkpassword_run(arg, user, pass);
}

void
smtpd_queue_sink(struct smtpd_sink *k, const struct config *cfg)
{
	k->open = q_open;
	k->envelope = q_envelope;
	k->qid = q_qid;
	k->write = q_write;
	k->finish = q_finish;
	k->abort = q_abort;
	k->flush = q_flush;
	k->checkpass = q_checkpass;
	k->arg = (void *)(uintptr_t)cfg;
}

/*
 * sink.c — the production message sink of posthorn-smtpd: messages go to
 * posthorn-queue through common/qclient.h, ETRN becomes a queue flush,
 * and credentials go to the checkpassword program (auth.c).  Tests and
 * the fuzzer use their own sinks with the same interface.
 */
#include "smtpd/smtpd.h"

static void *
q_open(void *arg, struct buf *err)
{
	const struct config *cfg = arg;

	return qclient_open(cfg->queue_socket, err);
}

static int
q_envelope(void *h, const struct envelope *e, char qid[QID_LEN + 1])
{
	return qclient_envelope_qid(h, e, qid);
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
	k->write = q_write;
	k->finish = q_finish;
	k->abort = q_abort;
	k->flush = q_flush;
	k->checkpass = q_checkpass;
	k->arg = (void *)(uintptr_t)cfg;
}

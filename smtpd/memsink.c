/*
 * memsink.c — an in-memory message sink and a session runner over memory
 * files, for the unit tests and the fuzz target (the OpenSMTPD idea of a
 * swappable queue backend).  Nothing here is used by posthorn-smtpd in
 * production.
 *
 * The sink keeps the last message (bytes and envelope summary) up to
 * MEMSINK_MAX octets, counts messages, records the order of the calls the
 * session makes (so tests can check that the queue id is waited for
 * only before the first write), can be told to fail at each step, and
 * accepts
 * exactly the credentials alice/secret ("tempfail" as the password gives
 * a temporary failure).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smtpd/memsink.h"

static void
trace(struct memsink *m, const char *what)
{
	if (m->trace.len < 4096)
		buf_printf(&m->trace, "%s%s", m->trace.len > 0 ? " " : "",
		    what);
}

static void *
m_open(void *arg, struct buf *err)
{
	struct memsink *m = arg;

	trace(m, m->fail_open ? "open-failed" : "open");
	if (m->fail_open) {
		buf_append_str(err, "memsink: told to fail");
		return NULL;
	}
	buf_reset(&m->cur);
	buf_reset(&m->cur_env);
	m->open++;
	return m;
}

static int
m_envelope(void *h, const struct envelope *e)
{
	struct memsink *m = h;

	trace(m, m->fail_envelope ? "env-failed" : "env");
	if (m->fail_envelope)
		return -1;
	buf_reset(&m->cur_env);
	buf_printf(&m->cur_env, "from=<%s>", e->sender);
	for (size_t i = 0; i < e->nrcpts; i++) {
		buf_printf(&m->cur_env, " to=<%s>", e->rcpts[i].addr);
		if (e->rcpts[i].notify)
			buf_printf(&m->cur_env, " notify=%u",
			    e->rcpts[i].notify);
		if (e->rcpts[i].orcpt)
			buf_printf(&m->cur_env, " orcpt=%s",
			    e->rcpts[i].orcpt);
	}
	buf_printf(&m->cur_env, " size=%llu body=%d utf8=%d ret=%d",
	    (unsigned long long)e->size, (int)e->body, (int)e->smtputf8,
	    (int)e->ret);
	if (e->envid)
		buf_printf(&m->cur_env, " envid=%s", e->envid);
	if (e->auth)
		buf_printf(&m->cur_env, " auth=%s", e->auth);
	buf_printf(&m->cur_env, " proto=%s helo=%s", e->protocol ?
	    e->protocol : "", e->client_helo ? e->client_helo : "");
	return 0;
}

static int
m_qid(void *h, char qid[QID_LEN + 1])
{
	struct memsink *m = h;

	qid[0] = '\0';	/* the in-memory queue assigns no id */
	trace(m, m->fail_qid ? "qid-failed" : "qid");
	return m->fail_qid ? -1 : 0;
}

static int
m_write(void *h, const void *p, size_t n)
{
	struct memsink *m = h;

	/* one "write" for a run of writes */
	if (m->trace.len < 5 ||
	    strcmp(m->trace.data + m->trace.len - 5, "write") != 0)
		trace(m, "write");
	if (m->fail_write)
		return -1;
	if (m->cur.len + n > MEMSINK_MAX)
		return 0;	/* keep the size bounded; count on */
	return buf_append(&m->cur, p, n);
}

static int
m_finish(void *h, struct qresult *res)
{
	struct memsink *m = h;

	memset(res, 0, sizeof(*res));
	m->finished++;
	trace(m, "finish");
	if (m->refuse) {
		res->code = 452;
		memcpy(res->dsn, "4.5.3", 6);
		memcpy(res->text, "too many recipients", 20);
		return -1;
	}
	if (m->fail_finish) {
		res->code = 452;
		memcpy(res->dsn, "4.3.1", 6);
		memcpy(res->text, "Insufficient system storage", 28);
		return -1;
	}
	buf_set(&m->last, m->cur.data ? m->cur.data : "", m->cur.len);
	buf_set(&m->last_env, m->cur_env.data ? m->cur_env.data : "",
	    m->cur_env.len);
	res->code = 250;
	memcpy(res->dsn, "2.0.0", 6);
	memcpy(res->qid, "00000000000000000001", QID_LEN + 1);
	memcpy(res->text, "Ok: queued as 00000000000000000001", 35);
	return 0;
}

static void
m_abort(void *h)
{
	struct memsink *m = h;

	m->aborted++;
	trace(m, "abort");
}

static int
m_flush(void *arg, const char *domain, struct buf *err)
{
	struct memsink *m = arg;

	m->flushed++;
	if (m->fail_open) {
		buf_append_str(err, "memsink: told to fail");
		return -1;
	}
	(void)domain;
	return 0;
}

static int
m_checkpass(void *arg, const char *user, const char *pass)
{
	(void)arg;
	if (strcmp(pass, "tempfail") == 0)
		return -1;
	return strcmp(user, "alice") == 0 && strcmp(pass, "secret") == 0;
}

void
memsink_init(struct memsink *m, struct smtpd_sink *k)
{
	memset(m, 0, sizeof(*m));
	k->open = m_open;
	k->envelope = m_envelope;
	k->qid = m_qid;
	k->write = m_write;
	k->finish = m_finish;
	k->abort = m_abort;
	k->flush = m_flush;
	k->checkpass = m_checkpass;
	k->arg = m;
}

void
memsink_free(struct memsink *m)
{
	buf_free(&m->cur);
	buf_free(&m->cur_env);
	buf_free(&m->last);
	buf_free(&m->last_env);
	buf_free(&m->trace);
}

static int
read_back(int fd, struct buf *out)
{
	char chunk[4096];
	ssize_t r;

	if (lseek(fd, 0, SEEK_SET) == -1)
		return -1;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(out, chunk, (size_t)r) != 0)
			return -1;
	return r == 0 ? 0 : -1;
}

int
session_memory(const struct config *cfg, const struct local_tables *t,
    const struct smtpd_sink *k, unsigned mode, const char *peer_ip,
    const void *in, size_t inlen, struct buf *out)
{
	struct session s;
	int rfd, wfd, rc = -1;

	rfd = memfd_create("smtpd-in", MFD_CLOEXEC);
	wfd = memfd_create("smtpd-out", MFD_CLOEXEC);
	if (rfd == -1 || wfd == -1)
		goto out;
	if (inlen > 0 && io_write_all(rfd, in, inlen, 0) != 0)
		goto out;
	if (lseek(rfd, 0, SEEK_SET) == -1)
		goto out;
	if (session_init(&s, cfg, t, k, mode & ~MEMSINK_FAKE_TLS, rfd,
	    wfd) != 0)
		goto out;
	s.auth_delay_ms = 0;
	if (mode & MEMSINK_FAKE_TLS) {
		s.tls = true;
		snprintf(s.tls_info, sizeof(s.tls_info), "TLSv1.3:FAKE");
	}
	if (peer_ip != NULL && ip_parse(peer_ip, &s.peer) == 0) {
		s.peer_known = true;
		ip_format((struct sockaddr *)&s.peer, s.peer_ip,
		    sizeof(s.peer_ip));
	}
	session_run(&s);
	session_free(&s);
	rc = read_back(wfd, out);
out:
	if (rfd != -1)
		close(rfd);
	if (wfd != -1)
		close(wfd);
	return rc;
}

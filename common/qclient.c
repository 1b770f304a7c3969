/*
 * qclient.c — client side of the injection protocol (queue/PROTOCOL.md §1):
 * submit a message, ask for a flush, fetch the queue listing.
 *
 * Trusts: nothing from the queue socket beyond its framing; verdict fields
 * are length-checked and sanitised before they reach the caller (who puts
 * them into SMTP replies).  Writes use MSG_NOSIGNAL so a vanished queue is
 * an error, never a SIGPIPE.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/io.h"
#include "common/log.h"
#include "common/qclient.h"

#define QC_TIMEOUT_MS	(600 * 1000)	/* fsync on a busy disk can be slow */
#define QC_CONNECT_MS	(30 * 1000)	/* listen queue full this long: busy */
#define QC_DATA_MAX	65536
#define QC_FRAME_MAX	8192
#define QC_LIST_MAX	(4u * 1024 * 1024)

struct qclient {
	int fd;
	int broken;		/* a write failed: the queue went away */
	int announced;		/* frame A sent, its I reply not yet read */
	int lost;		/* no good I reply: nothing more to read */
	struct stream in;
	struct buf out;
};

static int
qc_connect(const char *path, struct buf *err)
{
	struct sockaddr_un sun;
	size_t len;
	int fd;

	len = strlen(path);
	if (len == 0 || len >= sizeof(sun.sun_path)) {
		buf_set(err, "queue socket path too long", 26);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		buf_reset(err);
		buf_printf(err, "socket: %s", strerror(errno));
		return -1;
	}
	/* A unix socket whose listen queue is full makes a blocking
	 * connect() wait for as long as the queue stays full (a
	 * non-blocking one fails with EAGAIN at once): try again for up to
	 * QC_CONNECT_MS, then give up with a temporary failure. */
	if (io_set_nonblock(fd, 1) == -1) {
		buf_reset(err);
		buf_printf(err, "fcntl: %s", strerror(errno));
		close(fd);
		return -1;
	}
	for (int waited = 0;; waited += 20) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || waited >= QC_CONNECT_MS) {
			buf_reset(err);
			buf_printf(err, "cannot connect to queue %s: %s", path,
			    errno == EAGAIN ? "too many injections waiting" :
			    strerror(errno));
			close(fd);
			return -1;
		}
		(void)poll(NULL, 0, 20);
	}
	if (io_set_nonblock(fd, 0) == -1) {
		buf_reset(err);
		buf_printf(err, "fcntl: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Send all of p, without SIGPIPE, waiting at most QC_TIMEOUT_MS each time
 * the socket is full. */
static int
qc_send(int fd, const char *p, size_t n)
{
	struct pollfd pfd;
	ssize_t w;
	int r;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do {
			r = poll(&pfd, 1, QC_TIMEOUT_MS);
		} while (r == -1 && errno == EINTR);
		if (r == 0)
			errno = ETIMEDOUT;
		if (r <= 0)
			return -1;
	}
	return 0;
}

static int
qc_flush_out(struct qclient *q)
{
	if (q->broken)
		return -1;
	if (q->out.len > 0 && qc_send(q->fd, q->out.data, q->out.len) == -1) {
		q->broken = 1;
		buf_reset(&q->out);
		return -1;
	}
	buf_reset(&q->out);
	return 0;
}

static struct qclient *
qc_new(const char *socket_path, struct buf *err)
{
	struct qclient *q;
	int fd;

	fd = qc_connect(socket_path, err);
	if (fd == -1)
		return NULL;
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		buf_set(err, "out of memory", 13);
		close(fd);
		return NULL;
	}
	q->fd = fd;
	buf_init(&q->out);
	if (stream_init(&q->in, fd, fd, QC_TIMEOUT_MS) == -1) {
		buf_set(err, "out of memory", 13);
		close(fd);
		free(q);
		return NULL;
	}
	return q;
}

static void
qc_free(struct qclient *q)
{
	stream_free(&q->in);
	buf_free(&q->out);
	close(q->fd);
	free(q);
}

struct qclient *
qclient_open(const char *socket_path, struct buf *err)
{
	return qc_new(socket_path, err);
}

static int
qc_envelope(struct qclient *q, const struct envelope *e, char tag)
{
	struct buf enc = BUF_INIT;
	int r;

	if (envelope_encode(e, &enc) == -1) {
		buf_free(&enc);
		q->broken = 1;
		return -1;
	}
	r = frame_put(&q->out, tag, enc.data, enc.len);
	buf_free(&enc);
	if (r == -1) {
		q->broken = 1;	/* see qclient_write */
		return -1;
	}
	return qc_flush_out(q);
}

int
qclient_envelope(struct qclient *q, const struct envelope *e)
{
	return qc_envelope(q, e, 'E');
}

int
qclient_envelope_announce(struct qclient *q, const struct envelope *e)
{
	if (qc_envelope(q, e, 'A') == -1)
		return -1;
	q->announced = 1;
	return 0;
}

/* Read the I frame that answers A.  0 with qid ("" = refused), or -1 with
 * the connection marked broken. */
static int
qc_read_qid(struct qclient *q, char qid[QID_LEN + 1])
{
	struct buf payload = BUF_INIT;
	char tag;
	int r;

	qid[0] = '\0';
	q->announced = 0;
	r = frame_read(&q->in, QID_LEN + 1, &tag, &payload);
	if (r != FRAME_OK || tag != 'I' || (payload.len != 0 &&
	    (payload.len != QID_LEN || !qid_valid(buf_str(&payload))))) {
		buf_free(&payload);
		q->broken = 1;
		q->lost = 1;
		return -1;
	}
	if (payload.len == QID_LEN)
		memcpy(qid, payload.data, QID_LEN + 1);
	buf_free(&payload);
	return 0;
}

int
qclient_qid(struct qclient *q, char qid[QID_LEN + 1])
{
	qid[0] = '\0';
	if (!q->announced) {
		errno = EINVAL;
		return -1;
	}
	return qc_read_qid(q, qid);
}

int
qclient_envelope_qid(struct qclient *q, const struct envelope *e,
    char qid[QID_LEN + 1])
{
	qid[0] = '\0';
	if (qclient_envelope_announce(q, e) == -1)
		return -1;
	return qclient_qid(q, qid);
}

int
qclient_write(struct qclient *q, const void *p, size_t n)
{
	const char *s = p;
	size_t chunk;

	if (q->broken)
		return -1;
	while (n > 0) {
		chunk = n > QC_DATA_MAX ? QC_DATA_MAX : n;
		/* a part lost here (no memory) must never be followed by
		 * the end frame: broken, qclient_finish() sends none, and
		 * the queue drops the unfinished message */
		if (frame_put(&q->out, 'M', s, chunk) == -1) {
			q->broken = 1;
			return -1;
		}
		s += chunk;
		n -= chunk;
		if (q->out.len >= QC_DATA_MAX && qc_flush_out(q) == -1)
			return -1;
	}
	return 0;
}

static void
qc_result(struct qresult *res, int code, const char *dsn, const char *text)
{
	memset(res, 0, sizeof(*res));
	res->code = code;
	snprintf(res->dsn, sizeof(res->dsn), "%s", dsn);
	snprintf(res->text, sizeof(res->text), "%s", text);
}

static int
dsn_valid(const char *s)
{
	size_t i, part = 0, digits = 0;

	if (s[0] < '2' || s[0] > '5' || s[1] != '.')
		return 0;
	for (i = 2; s[i] != '\0'; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			if (++digits > 3)
				return 0;
		} else if (s[i] == '.' && digits > 0 && part == 0) {
			part = 1;
			digits = 0;
		} else
			return 0;
	}
	return part == 1 && digits > 0;
}

/* Parse an R frame's payload into res.  0 ok, -1 malformed. */
static int
qc_parse_verdict(const struct buf *payload, struct qresult *res)
{
	struct buf store = BUF_INIT, text = BUF_INIT;
	const char *f[4];
	char *end;
	long code;
	int n;

	n = frame_fields(payload->data, payload->len, &store, f, 4);
	if (n < 3) {
		buf_free(&store);
		return -1;
	}
	errno = 0;
	code = strtol(f[0], &end, 10);
	if (errno != 0 || *end != '\0' || code < 200 || code > 599 ||
	    !dsn_valid(f[1]) || strlen(f[1]) >= sizeof(res->dsn) ||
	    f[1][0] != f[0][0]) {
		buf_free(&store);
		return -1;
	}
	memset(res, 0, sizeof(*res));
	res->code = (int)code;
	snprintf(res->dsn, sizeof(res->dsn), "%s", f[1]);
	sanitize_text(&text, f[2], strlen(f[2]), sizeof(res->text) - 1);
	snprintf(res->text, sizeof(res->text), "%s", buf_str(&text));
	if (n == 4 && code == 250 && qid_valid(f[3]))
		snprintf(res->qid, sizeof(res->qid), "%s", f[3]);
	else if (n == 4 && f[3][0] != '\0')
		code = -1;	/* a queue id that is not one */
	buf_free(&text);
	buf_free(&store);
	return code == -1 ? -1 : 0;
}

/* Read frames until the verdict; Q frames are passed to fn (listing). */
static int
qc_read_verdict(struct qclient *q, struct qresult *res,
    int (*fn)(void *, const struct buf *), void *arg)
{
	struct buf payload = BUF_INIT;
	char tag;
	int r;

	for (;;) {
		r = frame_read(&q->in, QC_LIST_MAX, &tag, &payload);
		if (r != FRAME_OK) {
			qc_result(res, 451, "4.3.0", "queue connection lost");
			break;
		}
		if (tag == 'Q' && fn != NULL) {
			if (fn(arg, &payload) == -1) {
				qc_result(res, 451, "4.3.0",
				    "malformed queue listing");
				break;
			}
			continue;
		}
		if (tag != 'R' || qc_parse_verdict(&payload, res) == -1)
			qc_result(res, 451, "4.3.0",
			    "malformed reply from the queue");
		break;
	}
	buf_free(&payload);
	return res->code >= 200 && res->code < 300 ? 0 : -1;
}

int
qclient_finish(struct qclient *q, struct qresult *res)
{
	char qid[QID_LEN + 1];
	int r;

	if (frame_put(&q->out, '.', "", 0) == 0)
		(void)qc_flush_out(q);
	/* Even after a failed write the queue may have sent its verdict
	 * (e.g. a protocol error) before closing: read it.  An I frame not
	 * read yet comes first (a malformed one makes reading on
	 * pointless). */
	shutdown(q->fd, SHUT_WR);
	if (q->lost || (q->announced && qc_read_qid(q, qid) == -1)) {
		qc_result(res, 451, "4.3.0", "queue connection lost");
		qc_free(q);
		return -1;
	}
	r = qc_read_verdict(q, res, NULL, NULL);
	qc_free(q);
	return r;
}

void
qclient_abort(struct qclient *q)
{
	if (q != NULL)
		qc_free(q);
}

static int
qc_request(const char *socket_path, char tag, const char *payload,
    int (*fn)(void *, const struct buf *), void *arg, struct buf *err)
{
	struct qclient *q;
	struct qresult res;
	int r;

	q = qc_new(socket_path, err);
	if (q == NULL)
		return -1;
	if (frame_put(&q->out, tag, payload, strlen(payload)) == -1 ||
	    qc_flush_out(q) == -1) {
		buf_reset(err);
		buf_printf(err, "cannot send request to the queue: %s",
		    strerror(errno));
		qc_free(q);
		return -1;
	}
	r = qc_read_verdict(q, &res, fn, arg);
	qc_free(q);
	if (r == -1) {
		buf_reset(err);
		buf_printf(err, "%d %s %s", res.code, res.dsn, res.text);
		if (res.code >= 500)
			r = -2;		/* the request itself is refused */
	}
	return r;
}

int
qclient_flush(const char *socket_path, const char *domain, struct buf *err)
{
	return qc_request(socket_path, 'F', domain != NULL ? domain : "",
	    NULL, NULL, err);
}

int
qclient_remove(const char *socket_path, const char *qid, struct buf *err)
{
	return qc_request(socket_path, 'D', qid, NULL, NULL, err);
}

/* ---- mailq ------------------------------------------------------------ */

struct qc_list {
	FILE *out;
	unsigned long nmsg;
	unsigned long long bytes;
};

static void
qc_print_text(FILE *out, const char *s)
{
	struct buf b = BUF_INIT;

	sanitize_text(&b, s, strlen(s), 400);
	fputs(buf_str(&b), out);
	buf_free(&b);
}

static int
qc_list_one(void *arg, const struct buf *payload)
{
	struct qc_list *l = arg;
	struct buf store = BUF_INIT;
	const char **f;
	unsigned long long size, arrival, n, i;
	char when[64], *end;
	time_t t;
	struct tm tm;
	int nf;
	const size_t maxf = 5 + 3 * 100000;

	f = calloc(maxf, sizeof(*f));
	if (f == NULL)
		return -1;
	nf = frame_fields(payload->data, payload->len, &store, f, maxf);
	if (nf < 5 || !qid_valid(f[0]))
		goto bad;
	errno = 0;
	size = strtoull(f[1], &end, 10);
	if (errno != 0 || *end != '\0' || f[1][0] == '\0')
		goto bad;
	arrival = strtoull(f[2], &end, 10);
	if (errno != 0 || *end != '\0' || f[2][0] == '\0')
		goto bad;
	n = strtoull(f[4], &end, 10);
	if (errno != 0 || *end != '\0' || n != ((unsigned long long)nf - 5) / 3
	    || (unsigned long long)nf != 5 + 3 * n)
		goto bad;
	if (l->nmsg == 0)
		fprintf(l->out, "%-20s %9s %-20s  %s\n", "-Queue ID-",
		    "--Size--", "----Arrival Time----",
		    "-Sender/Recipient-------");
	t = (time_t)arrival;
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm) == 0)
		snprintf(when, sizeof(when), "%llu", arrival);
	fprintf(l->out, "%-20s %9llu %-20s  ", f[0], size, when);
	if (f[3][0] == '\0')
		fputs("MAILER-DAEMON", l->out);
	else
		qc_print_text(l->out, f[3]);
	fputc('\n', l->out);
	for (i = 0; i < n; i++) {
		const char *rcpt = f[5 + 3 * i], *dsn = f[6 + 3 * i],
		    *diag = f[7 + 3 * i];

		if (diag[0] != '\0' || dsn[0] != '\0') {
			fputs("        (", l->out);
			if (dsn[0] != '\0') {
				qc_print_text(l->out, dsn);
				fputc(' ', l->out);
			}
			qc_print_text(l->out, diag);
			fputs(")\n", l->out);
		}
		fprintf(l->out, "%*s", 53, "");
		qc_print_text(l->out, rcpt);
		fputc('\n', l->out);
	}
	fputc('\n', l->out);
	l->nmsg++;
	l->bytes += size;
	free(f);
	buf_free(&store);
	return 0;
bad:
	free(f);
	buf_free(&store);
	return -1;
}

int
qclient_list(const char *socket_path, FILE *out, struct buf *err)
{
	struct qc_list l = { out, 0, 0 };
	int r;

	r = qc_request(socket_path, 'L', "", qc_list_one, &l, err);
	if (r != 0)
		return -1;
	if (l.nmsg == 0)
		fputs("Mail queue is empty\n", out);
	else
		fprintf(out, "-- %llu Kbytes in %lu Request%s.\n",
		    (l.bytes + 1023) / 1024, l.nmsg, l.nmsg == 1 ? "" : "s");
	return fflush(out) == 0 ? 0 : -1;
}

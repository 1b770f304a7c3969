/*
 * message.c — the bytes posthorn-local writes: the Return-Path and
 * Delivered-To header lines, the message as queued (LF line ends), and
 * for mbox files ">From " quoting.  Also the loop check over the header
 * section.
 *
 * Input: the message fd from the queue, its first msgsize octets (the
 * envelope's size; the queue's records may follow them) read with
 * agent_msg_read() from offset 0, so the same fd serves every part of an
 * alias expansion.  The content is
 * hostile: lines may be of any length and contain any octet; everything
 * here is a byte-at-a-time state machine with fixed-size state, so no
 * input can make it allocate or recurse.
 *
 * mbox quoting is mboxrd: a line that starts with zero or more '>' and
 * then "From " gets one more '>' (reversible, and a superset of the
 * classic ">From " rule).  Every mbox message ends with a newline and is
 * followed by one blank line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/agent.h"
#include "local/local.h"

#define CHUNK		65536
#define HDR_KEEP	1024	/* octets of a header kept for inspection */
#define MAX_RECEIVED	100	/* SPEC: more than this is a loop */

int
msg_prefix(const struct lctx *c, struct buf *out)
{
	buf_reset(out);
	return buf_printf(out, "Return-Path: <%s>\nDelivered-To: %s\n",
	    c->sender, c->rcpt);
}

/* ---- loop check --------------------------------------------------------- */

struct hscan {
	char h[HDR_KEEP + 1];
	size_t n;
	unsigned received;
	const char *rcpt;
	int loop;
};

/* Does header h (NUL-terminated) have field name "name"? Returns the
 * value after the colon or NULL. */
static const char *
hdr_value(const char *h, const char *name)
{
	size_t n = strlen(name);

	if (strncasecmp(h, name, n) != 0)
		return NULL;
	h += n;
	while (*h == ' ' || *h == '\t')
		h++;
	if (*h != ':')
		return NULL;
	return h + 1;
}

static void
hdr_done(struct hscan *s)
{
	const char *v;
	size_t len;

	s->h[s->n] = '\0';
	if (s->n == 0)
		return;
	if (hdr_value(s->h, "Received") != NULL &&
	    ++s->received > MAX_RECEIVED)
		s->loop = 1;
	v = hdr_value(s->h, "Delivered-To");
	if (v != NULL) {
		while (*v == ' ' || *v == '\t' || *v == '<')
			v++;
		len = strlen(v);
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t' ||
		    v[len - 1] == '>' || v[len - 1] == '\r'))
			len--;
		if (len == strlen(s->rcpt) && strncasecmp(v, s->rcpt, len) == 0)
			s->loop = 1;
	}
	s->n = 0;
}

int
msg_loop_check(int msgfd, uint64_t msgsize, const char *rcpt)
{
	struct hscan s;
	char buf[CHUNK];
	uint64_t off = 0;
	ssize_t got, i;
	int bol = 1;

	memset(&s, 0, sizeof(s));
	s.rcpt = rcpt;
	while (off < msgsize) {
		got = agent_msg_read(msgfd, msgsize, buf, sizeof(buf), off);
		if (got <= 0)
			return -1;
		off += (uint64_t)got;
		for (i = 0; i < got; i++) {
			char ch = buf[i];
			if (bol) {
				if (ch == '\n') {	/* end of header */
					hdr_done(&s);
					return s.loop;
				}
				if (ch != ' ' && ch != '\t')
					hdr_done(&s);
				bol = 0;
			}
			if (ch == '\n')
				bol = 1;
			else if (s.n < HDR_KEEP)
				s.h[s.n++] = ch == '\t' ? ' ' : ch;
			if (s.loop)
				return 1;
		}
	}
	hdr_done(&s);
	return s.loop;
}

/* ---- copying ------------------------------------------------------------ */

struct out {
	int fd;
	char b[CHUNK];
	size_t n;
	off_t total;
	char last;
	int err;
};

static void
out_flush(struct out *o)
{
	size_t done = 0;
	ssize_t w;

	while (o->err == 0 && done < o->n) {
		w = write(o->fd, o->b + done, o->n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			o->err = w < 0 ? errno : EIO;
			break;
		}
		done += (size_t)w;
	}
	o->n = 0;
}

static void
out_byte(struct out *o, char ch)
{
	if (o->n == sizeof(o->b))
		out_flush(o);
	o->b[o->n++] = ch;
	o->total++;
	o->last = ch;
}

static void
out_bytes(struct out *o, const char *p, size_t n)
{
	size_t k;

	while (n > 0) {
		if (o->n == sizeof(o->b))
			out_flush(o);
		k = sizeof(o->b) - o->n;
		if (k > n)
			k = n;
		memcpy(o->b + o->n, p, k);
		o->n += k;
		o->total += (off_t)k;
		o->last = p[k - 1];
		p += k;
		n -= k;
	}
}

/* mboxrd quoting state: '>' run length and how much of "From " matched at
 * the start of the current line. */
struct quote {
	int bol;		/* still inside a possible ">*From " prefix */
	size_t ngt;
	size_t nmatch;
};

static const char from_[] = "From ";

static void
quote_flush(struct out *o, struct quote *q, int quoted)
{
	size_t i;

	if (quoted)
		out_byte(o, '>');
	for (i = 0; i < q->ngt; i++)
		out_byte(o, '>');
	out_bytes(o, from_, q->nmatch);
	q->ngt = q->nmatch = 0;
	q->bol = 0;
}

static void
quote_byte(struct out *o, struct quote *q, char ch)
{
	if (q->bol) {
		if (q->nmatch == 0 && ch == '>') {
			q->ngt++;
			return;
		}
		if (ch == from_[q->nmatch]) {
			if (++q->nmatch == sizeof(from_) - 1)
				quote_flush(o, q, 1);
			return;
		}
		quote_flush(o, q, 0);
	}
	out_byte(o, ch);
	if (ch == '\n')
		q->bol = 1;
}

off_t
msg_copy(int msgfd, uint64_t msgsize, int outfd, const struct buf *prefix,
    bool mbox)
{
	static struct out o;	/* 64 KiB: keep it off the stack */
	struct quote q = { 1, 0, 0 };
	char buf[CHUNK];
	uint64_t off = 0;
	ssize_t got, i;

	memset(&o, 0, sizeof(o));
	o.fd = outfd;
	o.last = '\n';
	out_bytes(&o, buf_str(prefix), prefix->len);
	while (off < msgsize) {
		got = agent_msg_read(msgfd, msgsize, buf, sizeof(buf), off);
		if (got <= 0) {
			o.err = got < 0 ? errno : EIO;
			break;
		}
		off += (uint64_t)got;
		if (!mbox) {
			out_bytes(&o, buf, (size_t)got);
			continue;
		}
		for (i = 0; i < got; i++)
			quote_byte(&o, &q, buf[i]);
	}
	if (mbox) {
		quote_flush(&o, &q, 0);
		if (o.last != '\n')
			out_byte(&o, '\n');
		out_byte(&o, '\n');
	}
	out_flush(&o);
	if (o.err != 0) {
		errno = o.err;
		return -1;
	}
	return o.total;
}

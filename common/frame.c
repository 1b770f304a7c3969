/*
 * frame.c — tagged netstrings "<len>:<tag><payload>," (frame.h).
 *
 * Decoding is strict because frames arrive from less trusted processes and
 * from the spool: the length is 1..10 decimal digits without leading zeros,
 * at most the reader's limit, followed by ':', the tag octet, the payload
 * and a ','.  Anything else — a sign, a space, a missing comma, EOF inside
 * a frame, a length of 0 — is FRAME_BAD, never a partial result.  Lengths
 * are computed with checked arithmetic; a reader never allocates more than
 * its limit.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/io.h"

#define FRAME_DIGITS_MAX 10

int
frame_put(struct buf *out, char tag, const void *payload, size_t len)
{
	size_t old = out->len, flen;

	if (size_add(len, 1, &flen) == -1) {
		errno = EOVERFLOW;
		return -1;
	}
	if (flen > 9999999999ULL) {
		errno = EOVERFLOW;
		return -1;
	}
	if (buf_printf(out, "%zu:", flen) == -1 ||
	    buf_append_char(out, tag) == -1 ||
	    buf_append(out, payload, len) == -1 ||
	    buf_append_char(out, ',') == -1) {
		buf_truncate(out, old);
		return -1;
	}
	return 0;
}

int
frame_put_str(struct buf *out, char tag, const char *s)
{
	return frame_put(out, tag, s, strlen(s));
}

int
frame_put_fields(struct buf *out, char tag, const char *const *fields,
    size_t nfields)
{
	struct buf p = BUF_INIT;
	size_t i;
	int r;

	for (i = 0; i < nfields; i++) {
		if ((i > 0 && buf_append_char(&p, '\0') == -1) ||
		    buf_append_str(&p, fields[i]) == -1) {
			buf_free(&p);
			return -1;
		}
	}
	r = frame_put(out, tag, p.data != NULL ? p.data : "", p.len);
	buf_free(&p);
	return r;
}

/* Parse the length prefix "digits:" at p[0..len).  Returns the number of
 * octets through ':' and stores the value, or 0 when malformed. */
static size_t
frame_len_prefix(const char *p, size_t len, size_t max, size_t *flen)
{
	uint64_t v = 0;	/* 11 digits fit: no wrap even where size_t is
			   32 bits */
	size_t i;

	for (i = 0; i < len && i <= FRAME_DIGITS_MAX; i++) {
		if (p[i] == ':')
			break;
		if (p[i] < '0' || p[i] > '9')
			return 0;
		if (i > 0 && p[0] == '0')
			return 0;	/* leading zero */
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (i == 0 || i == len || i > FRAME_DIGITS_MAX || p[i] != ':')
		return 0;
	if (v == 0 || v > max || v > SIZE_MAX)
		return 0;
	*flen = (size_t)v;
	return i + 1;
}

int
frame_decode(const char *p, size_t len, size_t max, char *tag,
    const char **payload, size_t *plen, size_t *consumed)
{
	size_t hdr, flen, total;

	if (len == 0)
		return FRAME_EOF;
	hdr = frame_len_prefix(p, len, max, &flen);
	if (hdr == 0)
		return FRAME_BAD;
	if (size_add(hdr, flen, &total) == -1 ||
	    size_add(total, 1, &total) == -1 || total > len)
		return FRAME_BAD;
	if (p[total - 1] != ',')
		return FRAME_BAD;
	*tag = p[hdr];
	*payload = p + hdr + 1;
	*plen = flen - 1;
	*consumed = total;
	return FRAME_OK;
}

/* One octet from the stream: 1 ok, 0 EOF, -1 error. */
static int
frame_getc(struct stream *s, char *c)
{
	ssize_t r = stream_read(s, c, 1);

	return r > 0 ? 1 : (int)r;
}

int
frame_read(struct stream *s, size_t max, char *tag, struct buf *payload)
{
	char hdr[FRAME_DIGITS_MAX + 2], c;
	size_t n = 0, flen, used;
	int r;

	buf_reset(payload);
	if (buf_reserve(payload, 0) == -1)	/* data never NULL on success */
		return FRAME_ERR;
	for (;;) {
		r = frame_getc(s, &c);
		if (r == -1)
			return FRAME_ERR;
		if (r == 0)
			return n == 0 ? FRAME_EOF : FRAME_BAD;
		hdr[n++] = c;
		if (c == ':')
			break;
		if (c < '0' || c > '9' || n > FRAME_DIGITS_MAX)
			return FRAME_BAD;
	}
	used = frame_len_prefix(hdr, n, max, &flen);
	if (used != n)
		return FRAME_BAD;
	r = frame_getc(s, tag);
	if (r == -1)
		return FRAME_ERR;
	if (r == 0)
		return FRAME_BAD;
	if (stream_read_exact(s, payload, flen - 1) == -1)
		return s->eof && s->error == 0 && errno == EPIPE ?
		    FRAME_BAD : FRAME_ERR;
	r = frame_getc(s, &c);
	if (r == -1)
		return FRAME_ERR;
	if (r == 0 || c != ',')
		return FRAME_BAD;
	return FRAME_OK;
}

int
frame_fields(const char *payload, size_t plen, struct buf *store,
    const char **fields, size_t maxf)
{
	size_t i, start = 0, nf = 0;

	if (buf_set(store, payload, plen) == -1)
		return -1;
	for (i = 0; i <= plen; i++) {
		if (i < plen && store->data[i] != '\0')
			continue;
		if (nf == maxf || nf == INT_MAX)
			return -1;
		fields[nf++] = store->data + start;
		start = i + 1;
	}
	return (int)nf;
}

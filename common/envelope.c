/*
 * envelope.c — the envelope of one message and its frame encoding
 * (envelope.h), plus the DSN parameter helpers (NOTIFY, xtext).
 *
 * Encoding: a sequence of frames (frame.h).  Message-level tags, each at
 * most once, in any order:
 *
 *   S sender ("" = <>)        Z size (octets)        B body 7BIT|8BITMIME|
 *   U SMTPUTF8 (empty)        T ret FULL|HDRS          BINARYMIME
 *   V envid                   A auth identity        C client address
 *   H client HELO             P protocol             I submitting uid
 *   W arrival (time_t)        Q queue id
 *
 * Recipient tags: R starts a recipient (its address); the others describe
 * the latest R and may each appear once per recipient:
 *
 *   R address   N notify bits (decimal 1..15)   O ORCPT
 *   F own mailbox only (empty; sendmail's "\user", see envelope.h)
 *   X state (0 pending, 1 delivered, 2 failed, 3 deferred)
 *   D status code "4.2.2"   G diagnostic text   M remote MTA
 *   L last attempt (time_t) K attempts
 *
 * Absent tags mean the defaults of envelope_init().  Numbers are unsigned
 * decimal without sign or leading zeros.  Decoding is hostile-input safe:
 * S is required, every address is re-validated with addr.c (recipients are
 * always local@domain; non-ASCII only when U is present), numbers are
 * range-checked, text fields may not hold control octets and have length
 * limits, and unknown or duplicate tags are errors.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/envelope.h"
#include "common/frame.h"
#include "common/qid.h"
#include "common/units.h"

#define TEXT_SHORT	64	/* client address, protocol */
#define TEXT_MID	512	/* auth, remote MTA, HELO */
#define TEXT_LONG	1024	/* ORCPT, diagnostics */

/* Bits for "seen" tracking of message-level tags ('A'..'Z'). */
#define TAGBIT(t)	(UINT32_C(1) << ((t) - 'A'))

void
envelope_init(struct envelope *e)
{
	memset(e, 0, sizeof(*e));
	e->uid = -1;
}

static void
rcpt_free(struct rcpt *r)
{
	free(r->addr);
	free(r->orcpt);
	free(r->diag);
	free(r->remote_mta);
}

void
envelope_free(struct envelope *e)
{
	size_t i;

	for (i = 0; i < e->nrcpts; i++)
		rcpt_free(&e->rcpts[i]);
	free(e->rcpts);
	free(e->sender);
	free(e->envid);
	free(e->auth);
	free(e->client_addr);
	free(e->client_helo);
	free(e->protocol);
	free(e->qid);
	envelope_init(e);
}

int
envelope_set_str(char **field, const char *value)
{
	char *n = NULL;

	if (value != NULL && (n = strdup(value)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	free(*field);
	*field = n;
	return 0;
}

int
envelope_set_sender(struct envelope *e, const char *addr)
{
	return envelope_set_str(&e->sender, addr != NULL ? addr : "");
}

long
envelope_add_rcpt(struct envelope *e, const char *addr, unsigned notify,
    const char *orcpt)
{
	struct rcpt *v, *r;
	size_t ncap;

	if (addr == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (e->nrcpts == e->rcap) {
		ncap = e->rcap == 0 ? 4 : e->rcap;
		if (size_mul(ncap, 2, &ncap) == -1 || ncap > LONG_MAX) {
			errno = ENOMEM;
			return -1;
		}
		v = xrealloc_array(e->rcpts, ncap, sizeof(*v));
		if (v == NULL)
			return -1;
		e->rcpts = v;
		e->rcap = ncap;
	}
	r = &e->rcpts[e->nrcpts];
	memset(r, 0, sizeof(*r));
	r->notify = notify;
	if (envelope_set_str(&r->addr, addr) == -1 ||
	    envelope_set_str(&r->orcpt, orcpt) == -1) {
		rcpt_free(r);
		memset(r, 0, sizeof(*r));
		return -1;
	}
	return (long)e->nrcpts++;
}

/* ---- encoding -------------------------------------------------------- */

static int
put_num(struct buf *out, char tag, uint64_t v)
{
	char s[24];
	int n = snprintf(s, sizeof(s), "%llu", (unsigned long long)v);

	return frame_put(out, tag, s, (size_t)n);
}

static int
put_opt(struct buf *out, char tag, const char *s)
{
	return s == NULL ? 0 : frame_put_str(out, tag, s);
}

/* The queue's own notes (diagnostic, remote MTA) are written so that they
 * always decode again: control octets become '?' and the text is cut at
 * the decoder's limit.  A spool record must never become unreadable
 * because a remote server put a TAB into its reply. */
static int
put_note(struct buf *out, char tag, const char *s, size_t max)
{
	struct buf t = BUF_INIT;
	size_t i, n;
	int r;

	if (s == NULL)
		return 0;
	n = strnlen(s, max);
	if (buf_append(&t, s, n) == -1)
		return -1;
	for (i = 0; i < t.len; i++)
		if ((unsigned char)t.data[i] < 0x20 || t.data[i] == 0x7f)
			t.data[i] = '?';
	r = frame_put(out, tag, t.data != NULL ? t.data : "", t.len);
	buf_free(&t);
	return r;
}

static bool dsn_code_ok(const char *p, size_t n);

static int
encode_rcpt(const struct rcpt *r, struct buf *out)
{
	size_t dl = strnlen(r->dsn, sizeof(r->dsn));

	if ((unsigned)r->state > RCPT_DEFERRED) {
		errno = EINVAL;
		return -1;
	}
	if (frame_put_str(out, 'R', r->addr) == -1 ||
	    (r->notify != 0 && put_num(out, 'N', r->notify) == -1) ||
	    put_opt(out, 'O', r->orcpt) == -1 ||
	    (r->own_mailbox && frame_put(out, 'F', "", 0) == -1) ||
	    (r->state != RCPT_PENDING &&
	    put_num(out, 'X', (uint64_t)r->state) == -1) ||
	    (dsn_code_ok(r->dsn, dl) &&
	    frame_put(out, 'D', r->dsn, dl) == -1) ||
	    put_note(out, 'G', r->diag, TEXT_LONG) == -1 ||
	    put_note(out, 'M', r->remote_mta, TEXT_MID) == -1 ||
	    (r->last_attempt > 0 &&
	    put_num(out, 'L', (uint64_t)r->last_attempt) == -1) ||
	    (r->attempts > 0 && put_num(out, 'K', r->attempts) == -1))
		return -1;
	return 0;
}

int
envelope_encode(const struct envelope *e, struct buf *out)
{
	static const char *const body[] = { "7BIT", "8BITMIME",
	    "BINARYMIME" };
	size_t old = out->len, i;

	if ((unsigned)e->body > BODY_BINARYMIME ||
	    (unsigned)e->ret > RET_HDRS) {
		errno = EINVAL;
		return -1;
	}
	if (frame_put_str(out, 'S', e->sender != NULL ? e->sender : "") == -1 ||
	    (e->size > 0 && put_num(out, 'Z', e->size) == -1) ||
	    (e->body != BODY_7BIT &&
	    frame_put_str(out, 'B', body[e->body]) == -1) ||
	    (e->smtputf8 && frame_put(out, 'U', "", 0) == -1) ||
	    (e->ret != RET_DEFAULT && frame_put_str(out, 'T',
	    e->ret == RET_FULL ? "FULL" : "HDRS") == -1) ||
	    put_opt(out, 'V', e->envid) == -1 ||
	    put_opt(out, 'A', e->auth) == -1 ||
	    put_opt(out, 'C', e->client_addr) == -1 ||
	    put_opt(out, 'H', e->client_helo) == -1 ||
	    put_opt(out, 'P', e->protocol) == -1 ||
	    (e->uid >= 0 && put_num(out, 'I', (uint64_t)e->uid) == -1) ||
	    (e->arrival > 0 && put_num(out, 'W', (uint64_t)e->arrival) == -1) ||
	    put_opt(out, 'Q', e->qid) == -1)
		goto fail;
	for (i = 0; i < e->nrcpts; i++)
		if (encode_rcpt(&e->rcpts[i], out) == -1)
			goto fail;
	return 0;
fail:
	buf_truncate(out, old);
	return -1;
}

/* ---- decoding -------------------------------------------------------- */

/* Unsigned decimal without sign or leading zeros, at most max. */
static int
dec_num(const char *p, size_t n, uint64_t max, uint64_t *out)
{
	char s[24];

	if (n == 0 || n >= sizeof(s) || (p[0] == '0' && n > 1))
		return -1;
	memcpy(s, p, n);
	s[n] = '\0';
	return parse_uint(s, max, out);
}

/* Text: no NUL, no control octets, at most max octets. */
static int
dec_text(const char *p, size_t n, size_t max, char **field)
{
	size_t i;
	char *s;

	if (n > max)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return -1;
	s = xstrndup(p, n);
	if (s == NULL)
		return -1;
	free(*field);
	*field = s;
	return 0;
}

static int
dec_addr(const char *p, size_t n, bool allow_null, char **field,
    const char **why)
{
	struct addr a;

	if (n == 0 && allow_null)
		return envelope_set_str(field, "");
	if (addr_parse_mailbox(p, n, ADDR_UTF8, &a, why) == -1)
		return -1;
	return dec_text(p, n, ADDR_MAX, field);
}

/* "X.Y.Z": class 2, 4 or 5, then 1-3 digits twice. */
static bool
dsn_code_ok(const char *p, size_t n)
{
	size_t i = 2, d;
	int part;

	if (n < 5 || n > 9 || (p[0] != '2' && p[0] != '4' && p[0] != '5') ||
	    p[1] != '.')
		return false;
	for (part = 0; part < 2; part++) {
		for (d = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			d++;
		if (d == 0 || d > 3)
			return false;
		if (part == 0 && (i >= n || p[i++] != '.'))
			return false;
	}
	return i == n;
}

static bool
notify_ok(uint64_t v)
{
	return v >= 1 && v <= 15 && (!(v & NOTIFY_NEVER) || v == NOTIFY_NEVER);
}

static int
dec_rcpt_tag(struct envelope *e, char tag, const char *p, size_t n,
    const char **why)
{
	struct rcpt *r;
	uint64_t v;

	if (tag == 'R') {
		if (envelope_add_rcpt(e, "", 0, NULL) == -1) {
			*why = "out of memory";
			return -1;
		}
		r = &e->rcpts[e->nrcpts - 1];
		if (dec_addr(p, n, false, &r->addr, why) == -1) {
			if (*why == NULL)
				*why = "bad recipient address";
			return -1;
		}
		return 0;
	}
	if (e->nrcpts == 0) {
		*why = "recipient field before any recipient";
		return -1;
	}
	r = &e->rcpts[e->nrcpts - 1];
	switch (tag) {
	case 'N':
		if (r->notify != 0 || dec_num(p, n, 15, &v) == -1 ||
		    !notify_ok(v))
			goto bad;
		r->notify = (unsigned)v;
		return 0;
	case 'O':
		if (r->orcpt != NULL || n == 0 ||
		    dec_text(p, n, TEXT_LONG, &r->orcpt) == -1)
			goto bad;
		return 0;
	case 'F':
		if (r->own_mailbox || n != 0)
			goto bad;
		r->own_mailbox = true;
		return 0;
	case 'X':
		if (r->state != RCPT_PENDING || dec_num(p, n, 3, &v) == -1 ||
		    v == 0)
			goto bad;
		r->state = (enum rcpt_state)v;
		return 0;
	case 'D':
		if (r->dsn[0] != '\0' || !dsn_code_ok(p, n))
			goto bad;
		memcpy(r->dsn, p, n);
		r->dsn[n] = '\0';
		return 0;
	case 'G':
		if (r->diag != NULL ||
		    dec_text(p, n, TEXT_LONG, &r->diag) == -1)
			goto bad;
		return 0;
	case 'M':
		if (r->remote_mta != NULL ||
		    dec_text(p, n, TEXT_MID, &r->remote_mta) == -1)
			goto bad;
		return 0;
	case 'L':
		if (r->last_attempt != 0 ||
		    dec_num(p, n, INT64_MAX, &v) == -1 || v == 0)
			goto bad;
		r->last_attempt = (int64_t)v;
		return 0;
	case 'K':
		if (r->attempts != 0 || dec_num(p, n, UINT32_MAX, &v) == -1 ||
		    v == 0)
			goto bad;
		r->attempts = (uint32_t)v;
		return 0;
	}
	return 1;
bad:
	*why = "bad or duplicate recipient field";
	return -1;
}

/* Message-level tags other than S. */
static int
dec_msg_tag(struct envelope *e, char tag, const char *p, size_t n)
{
	uint64_t v;

	switch (tag) {
	case 'Z':
		if (dec_num(p, n, UINT64_MAX, &v) == -1)
			return -1;
		e->size = v;
		return 0;
	case 'B':
		if (n == 4 && memcmp(p, "7BIT", 4) == 0)
			e->body = BODY_7BIT;
		else if (n == 8 && memcmp(p, "8BITMIME", 8) == 0)
			e->body = BODY_8BITMIME;
		else if (n == 10 && memcmp(p, "BINARYMIME", 10) == 0)
			e->body = BODY_BINARYMIME;
		else
			return -1;
		return 0;
	case 'U':
		e->smtputf8 = true;
		return n == 0 ? 0 : -1;
	case 'T':
		if (n == 4 && memcmp(p, "FULL", 4) == 0)
			e->ret = RET_FULL;
		else if (n == 4 && memcmp(p, "HDRS", 4) == 0)
			e->ret = RET_HDRS;
		else
			return -1;
		return 0;
	case 'V':
		return n == 0 ? -1 : dec_text(p, n, ENVID_MAX, &e->envid);
	case 'A':
		return n == 0 ? -1 : dec_text(p, n, TEXT_MID, &e->auth);
	case 'C':
		return dec_text(p, n, TEXT_SHORT, &e->client_addr);
	case 'H':
		return dec_text(p, n, TEXT_MID, &e->client_helo);
	case 'P':
		return dec_text(p, n, TEXT_SHORT, &e->protocol);
	case 'I':
		if (dec_num(p, n, UINT32_MAX - 1, &v) == -1)
			return -1;
		e->uid = (int64_t)v;
		return 0;
	case 'W':
		if (dec_num(p, n, INT64_MAX, &v) == -1)
			return -1;
		e->arrival = (int64_t)v;
		return 0;
	case 'Q':
		if (n != QID_LEN || dec_text(p, n, QID_LEN, &e->qid) == -1)
			return -1;
		return qid_valid(e->qid) ? 0 : -1;
	}
	return 1;
}

int
envelope_decode_frame(struct envelope *e, char tag, const char *payload,
    size_t plen, const char **why)
{
	int r;

	*why = NULL;
	if (memchr(payload, '\0', plen) != NULL) {
		*why = "NUL octet in envelope field";
		return -1;
	}
	if (tag == 'S') {
		if (e->seen & TAGBIT('S')) {
			*why = "duplicate sender";
			return -1;
		}
		e->seen |= TAGBIT('S');
		if (dec_addr(payload, plen, true, &e->sender, why) == -1) {
			if (*why == NULL)
				*why = "bad sender address";
			return -1;
		}
		return 0;
	}
	if (strchr("RNOFXDGMLK", tag) != NULL && tag != '\0')
		return dec_rcpt_tag(e, tag, payload, plen, why);
	if (tag < 'A' || tag > 'Z' || strchr("ZBUTVACHPIWQ", tag) == NULL)
		return 1;
	if (e->seen & TAGBIT(tag)) {
		*why = "duplicate envelope field";
		return -1;
	}
	e->seen |= TAGBIT(tag);
	r = dec_msg_tag(e, tag, payload, plen);
	if (r == -1)
		*why = "malformed envelope field";
	return r;
}

size_t
envelope_count_rcpts(const char *p, size_t len, size_t max)
{
	const char *pl;
	size_t plen, used, n = 0;
	char tag;

	while (len > 0 && n <= max) {
		if (frame_decode(p, len, len, &tag, &pl, &plen, &used) !=
		    FRAME_OK)
			break;
		if (tag == 'R')
			n++;
		p += used;
		len -= used;
	}
	return n;
}

int
envelope_decode(const char *p, size_t len, struct envelope *e,
    const char **why)
{
	const char *pl;
	size_t plen, used, i;
	char tag;
	int r;

	*why = NULL;
	while (len > 0) {
		r = frame_decode(p, len, len, &tag, &pl, &plen, &used);
		if (r != FRAME_OK) {
			*why = "malformed envelope frame";
			return -1;
		}
		r = envelope_decode_frame(e, tag, pl, plen, why);
		if (r == 1) {
			*why = "unknown envelope field";
			return -1;
		}
		if (r == -1)
			return -1;
		p += used;
		len -= used;
	}
	if (!(e->seen & TAGBIT('S'))) {
		*why = "envelope without sender";
		return -1;
	}
	if (!e->smtputf8) {
		for (i = 0; i < e->nrcpts; i++)
			if (str_has_8bit(e->rcpts[i].addr))
				break;
		if (i < e->nrcpts || str_has_8bit(e->sender)) {
			*why = "non-ASCII address without SMTPUTF8";
			return -1;
		}
	}
	return 0;
}

/* ---- NOTIFY and xtext ------------------------------------------------ */

int
notify_parse(const char *s, unsigned *bits)
{
	static const struct {
		const char *name;
		unsigned bit;
	} kw[] = { { "NEVER", NOTIFY_NEVER }, { "SUCCESS", NOTIFY_SUCCESS },
	    { "FAILURE", NOTIFY_FAILURE }, { "DELAY", NOTIFY_DELAY } };
	unsigned v = 0;
	size_t n, k;
	const char *comma;

	for (;;) {
		comma = strchr(s, ',');
		n = comma != NULL ? (size_t)(comma - s) : strlen(s);
		for (k = 0; k < sizeof(kw) / sizeof(kw[0]); k++)
			if (strlen(kw[k].name) == n &&
			    strncasecmp(s, kw[k].name, n) == 0)
				break;
		if (k == sizeof(kw) / sizeof(kw[0]) || (v & kw[k].bit))
			return -1;
		v |= kw[k].bit;
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	if ((v & NOTIFY_NEVER) && v != NOTIFY_NEVER)
		return -1;
	*bits = v;
	return 0;
}

int
notify_format(unsigned bits, char *out, size_t outsz)
{
	struct buf b = BUF_INIT;
	int n;

	if (bits == 0 || bits > 15 ||
	    ((bits & NOTIFY_NEVER) && bits != NOTIFY_NEVER))
		return -1;
	if (bits == NOTIFY_NEVER)
		buf_append_str(&b, "NEVER");
	if (bits & NOTIFY_SUCCESS)
		buf_append_str(&b, ",SUCCESS");
	if (bits & NOTIFY_FAILURE)
		buf_append_str(&b, ",FAILURE");
	if (bits & NOTIFY_DELAY)
		buf_append_str(&b, ",DELAY");
	n = -1;
	if (b.data != NULL) {
		const char *s = b.data[0] == ',' ? b.data + 1 : b.data;

		if (strlen(s) < outsz) {
			memcpy(out, s, strlen(s) + 1);
			n = (int)strlen(s);
		}
	}
	buf_free(&b);
	return n;
}

static int
hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')	/* RFC 3461 says upper case; some
					   clients send lower case */
		return c - 'a' + 10;
	return -1;
}

int
xtext_decode(const char *s, size_t len, struct buf *out)
{
	size_t old = out->len, i;
	int hi, lo;
	char c;

	for (i = 0; i < len; i++) {
		c = s[i];
		if (c == '+') {
			if (len - i < 3 || (hi = hexdigit(s[i + 1])) < 0 ||
			    (lo = hexdigit(s[i + 2])) < 0 ||
			    (hi == 0 && lo == 0))
				goto bad;
			c = (char)(hi * 16 + lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=')
			goto bad;
		if (buf_append_char(out, c) == -1)
			goto bad;
	}
	if (out->data == NULL && buf_reserve(out, 0) == -1)
		return -1;
	return 0;
bad:
	buf_truncate(out, old);
	return -1;
}

int
xtext_encode(const char *s, size_t len, struct buf *out)
{
	size_t old = out->len, i;
	unsigned char c;
	int r;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c >= 33 && c <= 126 && c != '+' && c != '=')
			r = buf_append_char(out, (char)c);
		else
			r = buf_printf(out, "+%02X", c);
		if (r == -1) {
			buf_truncate(out, old);
			return -1;
		}
	}
	return 0;
}

/*
 * sendmail_msg.c — the message side of the sendmail front end: input
 * filter, header section, RFC 5322 address lists (see sendmail_msg.h).
 *
 * Trust: everything comes from the (local, but untrusted) caller's
 * standard input or arguments.  Sizes are bounded (SM_HEADER_MAX,
 * SM_FIELDS_MAX, ADDR_MAX), every address is validated by addr.h, and no
 * byte sequence can end a header field early or start a new one: fields
 * are copied whole or not at all, and added fields are built from
 * sanitised values.
 */
#include <sys/random.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/addr.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/config.h"
#include "queue/sendmail_msg.h"

/* ---- input filter ---------------------------------------------------- */

void
sm_filter_init(struct sm_filter *f, bool ignore_dots)
{
	memset(f, 0, sizeof(*f));
	f->ignore_dots = ignore_dots;
	f->bol = true;
	f->last_lf = true;
}

static int
emit(struct sm_filter *f, struct buf *out, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_append(out, p, n) == -1)
		return -1;
	f->any = true;
	f->last_lf = p[n - 1] == '\n';
	return 0;
}

int
sm_filter_feed(struct sm_filter *f, const char *p, size_t n, struct buf *out)
{
	size_t i, run = 0;	/* p[run..i) is pending plain output */

	if (f->done)
		return 1;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (f->held_dot) {
			/* "." at the start of a line, maybe followed by a
			 * held CR */
			if (c == '\n') {
				f->done = true;
				return 1;
			}
			if (c == '\r' && !f->held_cr) {
				f->held_cr = true;
				run = i + 1;
				continue;
			}
			f->held_dot = false;
			if (emit(f, out, f->held_cr ? ".\r" : ".",
			    f->held_cr ? 2 : 1) == -1)
				return -1;
			f->held_cr = false;
			f->bol = false;
			run = i;
			/* fall through: c is handled normally below */
		} else if (f->held_cr) {
			f->held_cr = false;
			if (c == '\n') {
				/* CRLF: emit LF only */
				if (emit(f, out, "\n", 1) == -1)
					return -1;
				f->bol = true;
				run = i + 1;
				continue;
			}
			if (emit(f, out, "\r", 1) == -1)
				return -1;
			f->bol = false;
			run = i;
		}
		if (c == '\r') {
			if (emit(f, out, p + run, i - run) == -1)
				return -1;
			f->held_cr = true;
			run = i + 1;
			continue;
		}
		if (c == '.' && f->bol && !f->ignore_dots) {
			if (emit(f, out, p + run, i - run) == -1)
				return -1;
			f->held_dot = true;
			run = i + 1;
			continue;
		}
		f->bol = c == '\n';
	}
	if (emit(f, out, p + run, n - run) == -1)
		return -1;
	return 0;
}

int
sm_filter_finish(struct sm_filter *f, struct buf *out)
{
	if (!f->done) {
		if (f->held_dot) {
			/* a final "." without a line end also ends input */
			f->held_dot = false;
			f->held_cr = false;
		}
		if (f->held_cr && emit(f, out, "\r", 1) == -1)
			return -1;
		f->held_cr = false;
	}
	if (f->any && !f->last_lf && emit(f, out, "\n", 1) == -1)
		return -1;
	f->done = true;
	return 0;
}

/* ---- address lists --------------------------------------------------- */

struct alp {
	const char *s;
	size_t len, i;
	const char *domain;
	struct sm_rcpts *out;
	const char **why;
	struct buf cur;		/* the bare addr-spec being collected */
	bool gap;		/* white space between two words in cur */
	bool space;		/* white space seen since the last token */
	bool angle;		/* this address had an angle-addr */
	bool ingroup;
};

static int
fail(struct alp *a, const char *why)
{
	*a->why = why;
	return -1;
}

/* ---- recipient set ---------------------------------------------------- */

void
sm_rcpts_init(struct sm_rcpts *r)
{
	memset(r, 0, sizeof(*r));
	/* a seed the caller cannot know makes colliding addresses hard to
	 * choose; without one, lookups are still correct */
	if (getrandom(&r->seed, sizeof(r->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(r->seed))
		r->seed = 0;
}

void
sm_rcpts_free(struct sm_rcpts *r)
{
	strlist_free(&r->l);
	free(r->slot);
	memset(r, 0, sizeof(*r));
}

/*
 * Two addresses are the same recipient when their local parts are the
 * same octets and their domains differ at most in the case of ASCII
 * letters: the local part may be case-sensitive, a domain is not (RFC
 * 5321 2.4); octets of a non-ASCII domain are compared as they are.
 * Addresses here are "local@domain": the domain follows the last '@'
 * (a quoted local part may hold one, a domain never).
 */
static const char *
rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at : addr + strlen(addr);
}

static bool
rcpt_same(const char *a, const char *b)
{
	const char *da = rcpt_domain(a), *db = rcpt_domain(b);

	return da - a == db - b && memcmp(a, b, (size_t)(da - a)) == 0 &&
	    addr_domain_eq(da, db);
}

/* FNV-1a from a seeded basis (the domain's ASCII letters folded to lower
 * case, as rcpt_same compares them), with a final mix so that the low
 * bits (the slot) depend on every octet. */
static size_t
rcpt_hash(uint64_t seed, const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037) ^ seed;
	const char *dom = rcpt_domain(s);
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (s >= dom && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h ^= c;
		h *= UINT64_C(1099511628211);
	}
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	return (size_t)h;
}

/* The slot holding addr (or the same recipient), or the empty slot where
 * it would go. */
static size_t
rcpt_find(const struct sm_rcpts *r, const char *addr)
{
	size_t mask = r->nslots - 1, i = rcpt_hash(r->seed, addr) & mask;

	while (r->slot[i] != 0 && !rcpt_same(r->l.v[r->slot[i] - 1], addr))
		i = (i + 1) & mask;
	return i;
}

/* Make room for one more address: l.v and a table at most half full. */
static int
rcpt_grow(struct sm_rcpts *r)
{
	size_t need, ncap, nslots, k;
	size_t *nslot;
	char **nv;

	if (size_add(r->l.n, 1, &need) == -1)
		return -1;
	if (need > r->cap) {
		if (size_mul(r->cap ? r->cap : 16, 2, &ncap) == -1)
			return -1;
		nv = xrealloc_array(r->l.v, ncap, sizeof(*nv));
		if (nv == NULL)
			return -1;
		r->l.v = nv;
		r->cap = ncap;
	}
	if (size_mul(need, 2, &k) == -1)
		return -1;
	if (k <= r->nslots)
		return 0;
	if (size_mul(r->nslots ? r->nslots : 32, 2, &nslots) == -1 ||
	    (nslot = xcalloc_array(nslots, sizeof(*nslot))) == NULL)
		return -1;
	free(r->slot);
	r->slot = nslot;
	r->nslots = nslots;
	for (k = 0; k < r->l.n; k++)
		r->slot[rcpt_find(r, r->l.v[k])] = k + 1;
	return 0;
}

int
sm_rcpts_add(struct sm_rcpts *r, const char *addr)
{
	size_t i;
	char *d;

	if (rcpt_grow(r) == -1) {
		errno = ENOMEM;
		return -1;
	}
	i = rcpt_find(r, addr);
	if (r->slot[i] != 0)
		return 0;
	if ((d = strdup(addr)) == NULL)
		return -1;
	r->l.v[r->l.n++] = d;
	r->slot[i] = r->l.n;
	return 1;
}

/* Validate one addr-spec and add it, qualified. */
static int
emit_addr(struct alp *a, const char *spec, size_t n, bool bracketed)
{
	struct addr ad;
	char full[ADDR_MAX + 1];
	size_t consumed;
	int w;

	if (bracketed) {
		if (addr_parse_path(spec, n, ADDR_ALLOW_NODOMAIN | ADDR_UTF8,
		    &ad, &consumed, a->why) == -1)
			return -1;
		if (consumed != n)
			return fail(a, "junk after address");
	} else if (addr_parse_mailbox(spec, n, ADDR_ALLOW_NODOMAIN |
	    ADDR_UTF8, &ad, a->why) == -1)
		return -1;
	if (ad.null || ad.local[0] == '\0')
		return fail(a, "empty address");
	w = snprintf(full, sizeof(full), "%s@%s", ad.local,
	    ad.domain[0] ? ad.domain : a->domain);
	if (w < 0 || (size_t)w >= sizeof(full) ||
	    strlen(ad.domain[0] ? ad.domain : a->domain) > ADDR_DOMAIN_MAX)
		return fail(a, "address too long");
	if (sm_rcpts_add(a->out, full) == -1)
		return fail(a, "out of memory");
	return 0;
}

/* Skip a comment starting at s[i] == '('; nested, with quoted-pairs. */
static int
skip_comment(struct alp *a)
{
	size_t depth = 0;

	for (; a->i < a->len; a->i++) {
		char c = a->s[a->i];

		if (c == '\\') {
			a->i++;
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0) {
			a->i++;
			return 0;
		}
	}
	return fail(a, "unterminated comment");
}

/* Copy a quoted string or domain literal (open .. close) into b,
 * unfolded: a header field may be folded inside one (RFC 5322 3.2.2),
 * and the line end is not part of it. */
static int
copy_quoted(struct alp *a, char close, struct buf *b)
{
	size_t from = a->i;	/* what is not copied yet starts here */

	for (a->i++; a->i < a->len; a->i++) {
		char c = a->s[a->i];

		if (c == '\\' && close == '"') {
			a->i++;
			continue;
		}
		if (c == '\n' || c == '\r') {
			if (buf_append(b, a->s + from, a->i - from) == -1)
				return fail(a, "out of memory");
			from = a->i + 1;
			continue;
		}
		if (c == close) {
			a->i++;
			return buf_append(b, a->s + from, a->i - from) ==
			    -1 ? fail(a, "out of memory") : 0;
		}
	}
	return fail(a, close == '"' ? "unterminated quoted string" :
	    "unterminated domain literal");
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Copy "<...>" with comments and white space (outside quotes) removed,
 * then validate it.  a->i is at '<'. */
static int
angle_addr(struct alp *a)
{
	struct buf b = BUF_INIT;
	int rc = -1;

	buf_append_char(&b, '<');
	a->i++;
	while (a->i < a->len) {
		char c = a->s[a->i];

		if (c == '>') {
			a->i++;
			if (buf_append_char(&b, '>') == -1)
				break;
			rc = emit_addr(a, b.data, b.len, true);
			break;
		}
		if (c == '(') {
			if (skip_comment(a) == -1)
				break;
		} else if (c == '"' || c == '[') {
			if (copy_quoted(a, c == '"' ? '"' : ']', &b) == -1)
				break;
		} else if (is_wsp(c)) {
			a->i++;
		} else if (c == '<') {
			fail(a, "nested angle brackets");
			break;
		} else {
			if (buf_append_char(&b, c) == -1) {
				fail(a, "out of memory");
				break;
			}
			a->i++;
		}
	}
	if (rc == -1 && a->i >= a->len && *a->why == NULL)
		fail(a, "unterminated angle address");
	buf_free(&b);
	return rc;
}

/* The end of one address (',' or ';' or the end). */
static int
finish_one(struct alp *a)
{
	int rc = 0;

	if (!a->angle && a->cur.len > 0) {
		if (a->gap)
			rc = fail(a, "display name without an address");
		else
			rc = emit_addr(a, a->cur.data, a->cur.len, false);
	}
	buf_reset(&a->cur);
	a->gap = a->space = a->angle = false;
	return rc;
}

static bool
word_end(char c)
{
	return c == '.' || c == '@';
}

static int
alp_token(struct alp *a)
{
	char c = a->s[a->i];

	if (c == '(')
		return skip_comment(a);
	if (is_wsp(c)) {
		a->space = true;
		a->i++;
		return 0;
	}
	if (a->angle && c != ',' && c != ';')
		return fail(a, "junk after angle address");
	switch (c) {
	case '<':
		a->angle = true;
		return angle_addr(a);
	case ',':
		a->i++;
		return finish_one(a);
	case ':':
		if (a->ingroup)
			return fail(a, "nested group");
		a->ingroup = true;
		a->i++;
		buf_reset(&a->cur);	/* the group's display name */
		a->gap = a->space = false;
		return 0;
	case ';':
		if (!a->ingroup)
			return fail(a, "';' outside a group");
		a->i++;
		if (finish_one(a) == -1)
			return -1;
		a->ingroup = false;
		return 0;
	case '>':
		return fail(a, "unbalanced '>'");
	default:
		break;
	}
	if (a->space && a->cur.len > 0 && !word_end(c) &&
	    !word_end(a->cur.data[a->cur.len - 1]))
		a->gap = true;
	a->space = false;
	if (c == '"' || c == '[')
		return copy_quoted(a, c == '"' ? '"' : ']', &a->cur);
	a->i++;
	if (buf_append_char(&a->cur, c) == -1)
		return fail(a, "out of memory");
	return 0;
}

int
sm_addrlist_parse(const char *s, size_t len, const char *domain,
    struct sm_rcpts *out, const char **why)
{
	struct alp a;
	int rc = 0;
	size_t steps;

	memset(&a, 0, sizeof(a));
	a.s = s;
	a.len = len;
	a.domain = domain;
	a.out = out;
	a.why = why;
	*why = NULL;
	buf_init(&a.cur);
	/* every token consumes at least one octet: len + 1 steps bound it */
	for (steps = 0; a.i < a.len && steps <= len; steps++) {
		if (s[a.i] == '\0') {
			rc = fail(&a, "NUL in address list");
			break;
		}
		if ((rc = alp_token(&a)) == -1)
			break;
	}
	if (rc == 0)
		rc = finish_one(&a);
	buf_free(&a.cur);
	return rc;
}

/* ---- header section -------------------------------------------------- */

void
sm_headers_init(struct sm_headers *h)
{
	memset(h, 0, sizeof(*h));
	buf_init(&h->raw);
}

void
sm_headers_free(struct sm_headers *h)
{
	buf_free(&h->raw);
	free(h->f);
	memset(h, 0, sizeof(*h));
}

/*
 * Does the line p[0..n) start a header field: a name of printable ASCII
 * other than ':' (RFC 5322 ftext), optional WSP (obsolete syntax), ':'?
 * 1 yes, with *namelen; 0 no; -1 cannot tell yet (only when the line is
 * not complete: p[0..n) is all name and WSP so far).  A byte that cannot
 * be in a field name decides "no" at once, so a long header-less line
 * need not be read to its end.
 */
static int
field_start(const char *p, size_t n, bool complete, size_t *namelen)
{
	size_t i, end;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == ':' || c == ' ' || c == '\t')
			break;
		if (c < 33 || c > 126)
			return 0;
	}
	if (i == 0)
		return 0;	/* empty name, or a leading WSP */
	end = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == n)
		return complete ? 0 : -1;
	if (p[i] != ':')
		return 0;
	*namelen = end;
	return 1;
}

static int
add_field(struct sm_headers *h, size_t off, size_t namelen)
{
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 32;
		struct sm_field *nf;

		if (ncap > SM_FIELDS_MAX)
			ncap = SM_FIELDS_MAX;
		if (h->n == ncap) {
			errno = E2BIG;
			return -1;
		}
		nf = xrealloc_array(h->f, ncap, sizeof(*nf));
		if (nf == NULL) {
			errno = ENOMEM;
			return -1;
		}
		h->f = nf;
		h->cap = ncap;
	}
	h->f[h->n].off = off;
	h->f[h->n].len = 0;
	h->f[h->n].namelen = namelen;
	h->n++;
	return 0;
}

static int
too_large(const char **why)
{
	*why = "header section too large";
	return -1;
}

int
sm_headers_parse(struct sm_headers *h, const char *p, size_t n, bool eof,
    const char **why)
{
	size_t start = 0, pos, i;
	const char *nl;

	buf_reset(&h->raw);
	h->n = 0;
	h->separator = false;
	/* a leading mbox "From " line is not part of the message */
	if (n >= 5 && memcmp(p, "From ", 5) == 0) {
		nl = memchr(p, '\n', n);
		if (nl == NULL && !eof)
			return n > SM_HEADER_MAX ? too_large(why) : 0;
		start = nl ? (size_t)(nl - p) + 1 : n;
	}
	/* each turn consumes at least one octet */
	for (pos = start;;) {
		size_t linelen, len, namelen = 0;
		bool complete;
		int fs;

		if (pos - start > SM_HEADER_MAX)
			return too_large(why);
		if (pos == n) {
			if (!eof)
				return 0;
			h->body_off = n;
			break;
		}
		nl = memchr(p + pos, '\n', n - pos);
		complete = nl != NULL || eof;
		linelen = nl ? (size_t)(nl - (p + pos)) + 1 : n - pos;
		len = nl ? linelen - 1 : linelen;
		if (len == 0 && complete) {
			h->separator = true;
			h->body_off = pos + 1;
			break;
		}
		if ((p[pos] == ' ' || p[pos] == '\t') && h->n > 0) {
			/* continuation of the previous field */
			fs = 2;
		} else if (len > SM_HEADER_MAX) {
			/* longer than a header section may be: not a field
			 * (a header-less message such as one long JSON line) */
			fs = 0;
		} else {
			fs = field_start(p + pos, len, complete, &namelen);
		}
		if (fs == 0) {
			/* not a header field: the body starts here */
			h->body_off = pos;
			break;
		}
		if (!complete)	/* a field or a continuation, not ended */
			return n - start > SM_HEADER_MAX ? too_large(why) : 0;
		if (fs == 1 && add_field(h, pos - start, namelen) == -1) {
			*why = errno == ENOMEM ? "out of memory" :
			    "too many header fields";
			return -1;
		}
		pos += linelen;
	}
	if (buf_append(&h->raw, p + start, (h->separator ? h->body_off - 1 :
	    h->body_off) - start) == -1) {
		errno = ENOMEM;
		*why = "out of memory";
		return -1;
	}
	for (i = 0; i < h->n; i++)
		h->f[i].len = (i + 1 < h->n ? h->f[i + 1].off : h->raw.len) -
		    h->f[i].off;
	return 1;
}

bool
sm_field_is(const struct sm_headers *h, size_t i, const char *name)
{
	size_t nl = strlen(name);

	return h->f[i].namelen == nl &&
	    strncasecmp(h->raw.data + h->f[i].off, name, nl) == 0;
}

void
sm_field_value(const struct sm_headers *h, size_t i, const char **v,
    size_t *vlen)
{
	const char *p = h->raw.data + h->f[i].off;
	const char *colon = memchr(p, ':', h->f[i].len);
	size_t skip = colon ? (size_t)(colon - p) + 1 : h->f[i].len;

	*v = p + skip;
	*vlen = h->f[i].len - skip;
}

bool
sm_has_field(const struct sm_headers *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (sm_field_is(h, i, name))
			return true;
	return false;
}

static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Length of the longest prefix of s[0..n) that does not end inside a
 * UTF-8 sequence. */
static size_t
utf8_cut(const unsigned char *s, size_t n)
{
	size_t k = n, back = 0;

	while (k > 0 && back < 4 && (s[k - 1] & 0xC0) == 0x80) {
		k--;
		back++;
	}
	if (k > 0 && s[k - 1] >= 0xC0) {
		size_t need = s[k - 1] >= 0xF0 ? 3 : s[k - 1] >= 0xE0 ? 2 : 1;

		if (back < need)
			return k - 1;
	}
	return n;
}

/* RFC 2047 B encoding, words of at most 45 octets (75 characters),
 * never splitting a character. */
static int
encoded_words(const unsigned char *s, size_t n, struct buf *out)
{
	size_t pos = 0, chunk;

	while (pos < n) {
		chunk = n - pos > 45 ? utf8_cut(s + pos, 45) : n - pos;
		if (chunk == 0)
			chunk = n - pos < 45 ? n - pos : 45;
		if (buf_append_str(out, pos ? " =?UTF-8?B?" : "=?UTF-8?B?") ==
		    -1 || base64_encode(s + pos, chunk, out) == -1 ||
		    buf_append_str(out, "?=") == -1)
			return -1;
		pos += chunk;
	}
	return 0;
}

int
sm_phrase(const char *name, struct buf *out)
{
	struct buf clean = BUF_INIT;
	bool ascii = true, atoms = true;
	const unsigned char *s = (const unsigned char *)name;
	size_t i;
	int rc = 0;

	/* drop control characters; at most 256 octets */
	for (i = 0; s[i] != '\0' && clean.len < 256; i++) {
		if (s[i] < 32 || s[i] == 127)
			continue;
		if (buf_append_char(&clean, (char)s[i]) == -1)
			return -1;
		if (s[i] >= 128)
			ascii = false;
		else if (s[i] != ' ' && !is_atext(s[i]))
			atoms = false;
	}
	if (!ascii)
		buf_truncate(&clean, utf8_cut((const unsigned char *)
		    clean.data, clean.len));
	if (clean.len == 0) {
		buf_free(&clean);
		return 0;
	}
	if (!ascii && utf8_valid(clean.data, clean.len)) {
		rc = encoded_words((const unsigned char *)clean.data,
		    clean.len, out);
	} else if (atoms && ascii && clean.data[0] != ' ' &&
	    clean.data[clean.len - 1] != ' ') {
		rc = buf_append(out, clean.data, clean.len);
	} else {
		rc = buf_append_char(out, '"');
		for (i = 0; rc == 0 && i < clean.len; i++) {
			unsigned char c = (unsigned char)clean.data[i];

			if (c >= 128)
				continue;	/* not UTF-8: dropped */
			if (c == '"' || c == '\\')
				rc = buf_append_char(out, '\\');
			if (rc == 0)
				rc = buf_append_char(out, (char)c);
		}
		if (rc == 0)
			rc = buf_append_char(out, '"');
	}
	buf_free(&clean);
	return rc;
}

int
sm_date(long long t, struct buf *out)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char s[64];

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(s, sizeof(s), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return -1;
	return buf_append_str(out, s);
}

int
sm_headers_write(const struct sm_headers *h, const struct sm_addfields *a,
    struct buf *out)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < h->n && rc == 0; i++) {
		if (sm_field_is(h, i, "Bcc") ||
		    sm_field_is(h, i, "Resent-Bcc"))
			continue;
		rc = buf_append(out, h->raw.data + h->f[i].off, h->f[i].len);
		if (rc == 0 && h->raw.data[h->f[i].off + h->f[i].len - 1] !=
		    '\n')
			rc = buf_append_char(out, '\n');
	}
	if (rc == 0 && !sm_has_field(h, "From")) {
		rc = buf_append_str(out, "From: ");
		if (rc == 0 && a->full_name != NULL && a->full_name[0]) {
			size_t before = out->len;

			rc = sm_phrase(a->full_name, out);
			if (rc == 0 && out->len > before)
				rc = buf_printf(out, " <%s>\n", a->from_addr);
			else if (rc == 0)
				rc = buf_printf(out, "%s\n", a->from_addr);
		} else if (rc == 0)
			rc = buf_printf(out, "%s\n", a->from_addr);
	}
	if (rc == 0 && !sm_has_field(h, "Date")) {
		rc = buf_append_str(out, "Date: ");
		if (rc == 0)
			rc = sm_date(a->now, out);
		if (rc == 0)
			rc = buf_append_char(out, '\n');
	}
	if (rc == 0 && !sm_has_field(h, "Message-ID"))
		rc = buf_printf(out, "Message-ID: <%s@%s>\n", a->unique,
		    a->hostname);
	if (rc == 0)
		rc = buf_append_char(out, '\n');
	return rc;
}

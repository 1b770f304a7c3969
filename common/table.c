/*
 * table.c — lookup tables of the configuration directory (table.h):
 * mailboxes, relocated, routes (TABLE_SPACE), passwd (TABLE_COLON) and
 * aliases (TABLE_ALIASES), plus the parsers for alias values and routes.
 *
 * The files are written by administrators but are still parsed as hostile
 * input: a NUL octet, an overlong line, a line without a value, a
 * continuation without an entry, a duplicate key or (except in aliases)
 * a '#' after a blank in a value is an error naming "FILE:LINE"; nothing
 * is half-loaded.  (A duplicate alias is only a
 * warning: the first entry wins.)  Entries are sorted once and found by
 * binary search, ASCII case-insensitively.  A line whose first non-blank
 * octet is '#' is a comment; blank lines are skipped; neither ends an
 * aliases entry that continues after it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/io.h"
#include "common/log.h"
#include "common/table.h"
#include "common/units.h"

#define TABLE_LINE_MAX	4096
#define TABLE_FILE_MAX	(64 * 1024 * 1024)
#define ALIAS_ITEMS_MAX	10000

static int
ascii_casecmp(const char *a, const char *b)
{
	unsigned char ca, cb;

	for (;; a++, b++) {
		ca = (unsigned char)*a;
		cb = (unsigned char)*b;
		if (ca >= 'A' && ca <= 'Z')
			ca = (unsigned char)(ca - 'A' + 'a');
		if (cb >= 'A' && cb <= 'Z')
			cb = (unsigned char)(cb - 'A' + 'a');
		if (ca != cb || ca == '\0')
			return (int)ca - (int)cb;
	}
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct table_entry *x = a, *y = b;
	int r = ascii_casecmp(x->key, y->key);

	if (r != 0)
		return r;
	return x->line < y->line ? -1 : x->line > y->line;
}

void
table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].key);
		free(t->v[i].value);
	}
	free(t->v);
	free(t->path);
	t->v = NULL;
	t->n = 0;
	t->path = NULL;
}

/* Parser state across lines. */
struct pstate {
	size_t cap;		/* entries allocated in t->v */
	bool open;		/* an aliases entry may continue */
	size_t vlen, vcap;	/* the latest entry's value: length and
				   allocation, once it was continued
				   (vcap 0: not yet) */
};

static int
add_entry(struct table *t, struct pstate *ps, const char *k, size_t kn,
    const char *v, size_t vn, unsigned line)
{
	struct table_entry *nv, *e;
	size_t ncap;

	if (t->n == ps->cap) {
		ncap = ps->cap == 0 ? 16 : ps->cap;
		if (size_mul(ncap, 2, &ncap) == -1)
			return -1;
		nv = xrealloc_array(t->v, ncap, sizeof(*nv));
		if (nv == NULL)
			return -1;
		t->v = nv;
		ps->cap = ncap;
	}
	ps->vlen = ps->vcap = 0;
	e = &t->v[t->n];
	e->key = xstrndup(k, kn);
	e->value = xstrndup(v, vn);
	e->line = line;
	if (e->key == NULL || e->value == NULL) {
		free(e->key);
		free(e->value);
		return -1;
	}
	t->n++;
	return 0;
}

static bool
blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Append a continuation line to the latest entry's value, which grows
 * geometrically: a list of many lines loads in linear time. */
static int
continue_entry(struct table *t, struct pstate *ps, const char *v, size_t vn)
{
	struct table_entry *e = &t->v[t->n - 1];
	size_t need, ncap;
	char *p;

	if (ps->vcap == 0) {
		ps->vlen = strlen(e->value);
		ps->vcap = ps->vlen + 1;
	}
	/* need = vlen + ' ' + vn + NUL */
	if (size_add(ps->vlen, vn, &need) == -1 ||
	    size_add(need, 2, &need) == -1)
		return -1;
	if (need > ps->vcap) {
		if (size_mul(ps->vcap, 2, &ncap) == -1)
			return -1;
		if (ncap < need)
			ncap = need;
		if ((p = realloc(e->value, ncap)) == NULL)
			return -1;
		e->value = p;
		ps->vcap = ncap;
	}
	e->value[ps->vlen++] = ' ';
	memcpy(e->value + ps->vlen, v, vn);
	ps->vlen += vn;
	e->value[ps->vlen] = '\0';
	return 0;
}

/* Parse one line s[0..n) (no terminator).  *why set on syntax errors. */
static int
parse_line(struct table *t, struct pstate *ps, enum table_syntax syntax,
    const char *s, size_t n, unsigned line, const char **why)
{
	size_t i = 0, ks, ke, vs;
	bool was_open = ps->open;

	while (i < n && blank(s[i]))
		i++;
	/* Comment and blank lines are skipped without ending an aliases
	 * entry: a list may have a member commented out (Postfix's
	 * readlline() does the same). */
	if (i == n || s[i] == '#')
		return 0;
	ps->open = false;
	while (n > i && blank(s[n - 1]))
		n--;
	if (syntax == TABLE_ALIASES && i > 0) {
		if (!was_open) {
			*why = "continuation line without an entry";
			return -1;
		}
		ps->open = true;
		return continue_entry(t, ps, s + i, n - i) == -1 ? -1 : 0;
	}
	ps->open = true;
	ks = i;
	if (syntax == TABLE_SPACE) {
		while (i < n && !blank(s[i]))
			i++;
		ke = i;
	} else {
		while (i < n && s[i] != ':')
			i++;
		if (i == n) {
			*why = "missing ':' after the key";
			return -1;
		}
		ke = i++;
		while (syntax == TABLE_ALIASES && ke > ks && blank(s[ke - 1]))
			ke--;
	}
	if (syntax != TABLE_COLON)
		while (i < n && blank(s[i]))
			i++;
	vs = i;
	if (ke == ks) {
		*why = "empty key";
		return -1;
	}
	if (vs == n) {
		*why = "missing value";
		return -1;
	}
	if (memchr(s + ks, ' ', ke - ks) != NULL ||
	    memchr(s + ks, '\t', ke - ks) != NULL) {
		*why = "white space in the key";
		return -1;
	}
	/* A comment after the value would be part of it: the mailbox
	 * "/var/vmail/a/Maildir/  # alice" is an mbox file in a directory
	 * named Maildir.  (Aliases keep sendmail's reading: a program's
	 * arguments may hold '#'.) */
	for (i = vs; syntax != TABLE_ALIASES && i < n; i++)
		if (s[i] == '#' && (i == vs || blank(s[i - 1]))) {
			*why = "'#' after the value (a comment must be on a "
			    "line of its own)";
			return -1;
		}
	return add_entry(t, ps, s + ks, ke - ks, s + vs, n - vs, line);
}

/*
 * Sort, then look for keys given twice.  In aliases the first entry wins
 * and the later one is dropped with a warning naming its line, as
 * postalias(1) does (sendmail's newaliases warns too): an /etc/aliases
 * that worked elsewhere keeps working.  In the other tables a duplicate
 * is an error.
 */
static int
check_duplicates(struct table *t, enum table_syntax syntax, const char *name,
    struct buf *err)
{
	struct buf where = BUF_INIT, why = BUF_INIT;
	size_t i, j;

	if (t->n > 1)
		qsort(t->v, t->n, sizeof(t->v[0]), entry_cmp);
	for (i = 0, j = 0; i < t->n; i++) {
		if (j == 0 || ascii_casecmp(t->v[j - 1].key, t->v[i].key) != 0) {
			t->v[j++] = t->v[i];
			continue;
		}
		if (syntax != TABLE_ALIASES) {
			/* nothing dropped so far: j == i */
			buf_printf(err, "%s:%u: duplicate key (first on line "
			    "%u)", name, t->v[i].line, t->v[j - 1].line);
			return -1;
		}
		buf_reset(&where);
		buf_reset(&why);
		buf_printf(&where, "%s:%u", name, t->v[i].line);
		buf_printf(&why, "duplicate alias ignored; the entry on line "
		    "%u is used", t->v[j - 1].line);
		log_msg(LOG_WARNING, "table_duplicate", "file", buf_str(&where),
		    "key", t->v[i].key, "reason", buf_str(&why), (char *)NULL);
		free(t->v[i].key);
		free(t->v[i].value);
	}
	t->n = j;
	buf_free(&where);
	buf_free(&why);
	return 0;
}

int
table_parse(const char *name, const char *text, size_t len,
    enum table_syntax syntax, struct table *t, struct buf *err)
{
	const char *line = text, *nl, *why;
	struct pstate ps;
	size_t n;
	unsigned lineno = 0;

	memset(t, 0, sizeof(*t));
	memset(&ps, 0, sizeof(ps));
	buf_reset(err);
	t->path = strdup(name);
	if (t->path == NULL)
		goto oom;
	while (line < text + len) {
		lineno++;
		nl = memchr(line, '\n', (size_t)(text + len - line));
		n = nl != NULL ? (size_t)(nl - line) :
		    (size_t)(text + len - line);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		why = NULL;
		if (n > TABLE_LINE_MAX)
			why = "line too long";
		else if (memchr(line, '\0', n) != NULL)
			why = "NUL octet";
		else if (memchr(line, '\r', n) != NULL)
			why = "bare CR";
		if (why == NULL &&
		    parse_line(t, &ps, syntax, line, n, lineno, &why) ==
		    -1 &&
		    why == NULL)
			goto oom;
		if (why != NULL) {
			buf_printf(err, "%s:%u: %s", name, lineno, why);
			table_free(t);
			return -1;
		}
		line = nl != NULL ? nl + 1 : text + len;
	}
	if (check_duplicates(t, syntax, name, err) == -1) {
		table_free(t);
		return -1;
	}
	return 0;
oom:
	buf_printf(err, "%s: out of memory", name);
	table_free(t);
	return -1;
}

int
table_load(const char *path, enum table_syntax syntax, struct table *t,
    struct buf *err)
{
	struct buf text = BUF_INIT;
	int r;

	if (io_read_file(path, TABLE_FILE_MAX, &text) == -1) {
		if (errno == ENOENT) {
			memset(t, 0, sizeof(*t));
			t->path = strdup(path);
			return t->path == NULL ? -1 : 0;
		}
		buf_reset(err);
		buf_printf(err, "%s: %s", path,
		    errno == EFBIG ? "file too large" :
		    errno == EINVAL ? "not a regular file" : strerror(errno));
		memset(t, 0, sizeof(*t));
		return -1;
	}
	r = table_parse(path, text.data, text.len, syntax, t, err);
	buf_free(&text);
	return r;
}

const struct table_entry *
table_lookup(const struct table *t, const char *key)
{
	size_t lo = 0, hi = t->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = ascii_casecmp(key, t->v[mid].key);
		if (c == 0)
			return &t->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- alias values -------------------------------------------------- */

void
alias_items_free(char **items, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

/*
 * Items of an aliases or .forward value.  Programs, files and includes
 * ("|cmd", "/path", ":include:/path", or any of them in double quotes so
 * that they may hold commas and blanks) are taken as written.  Everything
 * else is an address as sendmail and Postfix read it (RFC 5322): a
 * local part that may be a quoted-string ("john doe"@example.org, kept
 * quoted), comments in parentheses dropped, and "Name <addr>" reduced to
 * addr.  A wholly quoted address ("bob@example.org") loses its quotes
 * when what is inside is an address; "john doe@example.org" becomes
 * "john doe"@example.org, as Postfix splits it at the last '@'.  What
 * does not reduce to an address is handed on as written, so that the
 * caller refuses that item alone.
 */

static bool
special_item(const char *s, size_t n)
{
	return n > 0 && (s[0] == '|' || s[0] == '/' ||
	    (n >= 9 && strncasecmp(s, ":include:", 9) == 0));
}

/* The end of the quoted-string starting at p[0] == '"' (just after the
 * closing quote), or NULL if it is not closed. */
static const char *
quoted_end(const char *p)
{
	for (p++; *p != '"'; p++) {
		if (*p == '\0')
			return NULL;
		if (*p == '\\' && p[1] != '\0')
			p++;
	}
	return p + 1;
}

/* The end of the comment starting at p[0] == '(' (they nest), or NULL. */
static const char *
comment_end(const char *p)
{
	size_t depth = 0;

	for (;; p++) {
		if (*p == '\0')
			return NULL;
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return p + 1;
	}
}

static int
append_quoted_local(struct buf *b, const char *s, size_t n)
{
	size_t i;

	if (buf_append_char(b, '"') == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (((s[i] == '"' || s[i] == '\\') &&
		    buf_append_char(b, '\\') == -1) ||
		    buf_append_char(b, s[i]) == -1)
			return -1;
	return buf_append_char(b, '"');
}

static bool
is_mailbox(const char *s, size_t n)
{
	struct addr a;
	const char *why;

	return addr_parse_mailbox(s, n, ADDR_UTF8 | ADDR_ALLOW_NODOMAIN, &a,
	    &why) == 0;
}

/* A wholly quoted item that is not a program, file or include: c[0..n)
 * is what the quotes held, raw[0..rn) the item as written. */
static int
quoted_address(const char *c, size_t n, const char *raw, size_t rn,
    struct buf *b)
{
	const char *at = n > 0 ? memrchr(c, '@', n) : NULL, *why;
	size_t dn;

	if (is_mailbox(c, n))
		return buf_set(b, c, n);
	if (at != NULL && at > c) {
		dn = n - (size_t)(at + 1 - c);
		if (addr_domain_valid(at + 1, dn, ADDR_UTF8, &why) == 0) {
			buf_reset(b);
			if (append_quoted_local(b, c, (size_t)(at - c)) == -1 ||
			    buf_append(b, at, dn + 1) == -1)
				return -1;
			if (is_mailbox(b->data, b->len))
				return 0;
		}
	}
	return buf_set(b, raw, rn);
}

static void
trim_blanks(const char **s, const char **e)
{
	while (*s < *e && blank(**s))
		(*s)++;
	while (*e > *s && blank((*e)[-1]))
		(*e)--;
}

/* An address item raw[0..end): comments dropped, "phrase <addr>" reduced
 * to addr; the raw text when that leaves no plain address. */
static int
address_item(const char *raw, const char *end, struct buf *tmp,
    struct buf *b)
{
	const char *p, *q, *s, *e, *lt = NULL, *gt = NULL;

	buf_reset(tmp);
	for (p = raw; p < end; p = q) {
		if (*p == '(') {
			if ((q = comment_end(p)) == NULL)
				goto as_written;
			continue;
		}
		if (*p == '"') {
			if ((q = quoted_end(p)) == NULL)
				goto as_written;
		} else
			q = p + 1;
		if (buf_append(tmp, p, (size_t)(q - p)) == -1)
			return -1;
	}
	s = buf_str(tmp);
	e = s + tmp->len;
	trim_blanks(&s, &e);
	if (s == e) {		/* only a comment: nothing to deliver to */
		buf_reset(b);
		return 0;
	}
	for (p = s; p < e; p = q) {	/* quotes are whole in tmp */
		q = *p == '"' ? quoted_end(p) : p + 1;
		if (*p == '<' && lt == NULL)
			lt = p;
		else if (*p == '>' && lt != NULL && gt == NULL)
			gt = p;
	}
	if (lt != NULL) {
		if (gt == NULL)
			goto as_written;
		for (p = gt + 1; p < e && blank(*p); p++)
			;
		if (p != e)
			goto as_written;
		s = lt + 1;	/* the phrase before '<' is dropped */
		e = gt;
	}
	trim_blanks(&s, &e);
	if (s == e || special_item(s, (size_t)(e - s)))
		goto as_written;
	return buf_set(b, s, (size_t)(e - s));
as_written:
	s = raw;
	e = end;
	trim_blanks(&s, &e);
	return buf_set(b, s, (size_t)(e - s));
}

/* One item starting at *pp; *pp is left after its separating comma.  The
 * item goes into b, which stays empty for an empty item ("a,,b", a
 * trailing comma): those are skipped. */
static int
alias_item(const char **pp, struct buf *b, struct buf *tmp, const char **why)
{
	const char *p = *pp, *start, *q, *r, *e;

	buf_reset(b);
	while (blank(*p))
		p++;
	start = p;
	if (*p != '"' && special_item(p, strlen(p))) {
		/* an unquoted program, file or include: up to the comma */
		for (; *p != ',' && *p != '\0'; p++)
			if (*p == '"') {
				*why = "quote inside an unquoted item";
				return -1;
			}
		e = p;
		trim_blanks(&start, &e);
		if (buf_set(b, start, (size_t)(e - start)) == -1)
			goto oom;
		goto next;
	}
	if (*p == '"') {
		if ((q = quoted_end(p)) == NULL) {
			*why = "unterminated quote";
			return -1;
		}
		for (r = q; blank(*r); r++)
			;
		if (*r == ',' || *r == '\0') {
			/* wholly quoted: the content, unescaped */
			buf_reset(tmp);
			for (p++; p < q - 1; p++) {
				if (*p == '\\' && p + 1 < q - 1)
					p++;
				if (buf_append_char(tmp, *p) == -1)
					goto oom;
			}
			if (tmp->len > 0 && special_item(tmp->data, tmp->len)) {
				if (buf_set(b, tmp->data, tmp->len) == -1)
					goto oom;
			} else if (quoted_address(buf_str(tmp), tmp->len, start,
			    (size_t)(q - start), b) == -1)
				goto oom;
			p = r;
			goto next;
		}
	}
	/* an address: find its end, the first comma outside quotes and
	 * comments */
	for (p = start; *p != ',' && *p != '\0'; p = q) {
		if (*p == '"')
			q = quoted_end(p);
		else if (*p == '(')
			q = comment_end(p);
		else
			q = p + 1;
		if (q == NULL) {
			*why = *p == '"' ? "unterminated quote" :
			    "unterminated comment";
			return -1;
		}
	}
	if (address_item(start, p, tmp, b) == -1)
		goto oom;
next:
	if (*p == ',')
		p++;
	*pp = p;
	return 0;
oom:
	*why = "out of memory";
	return -1;
}

int
alias_split(const char *value, char ***items, size_t *nitems,
    const char **why)
{
	struct buf b = BUF_INIT, tmp = BUF_INIT;
	char **v = NULL, **nv, *s;
	size_t n = 0;
	const char *p = value;

	*items = NULL;
	*nitems = 0;
	while (*p != '\0') {
		if (alias_item(&p, &b, &tmp, why) == -1)
			goto fail;
		if (b.len == 0)
			continue;
		if (n == ALIAS_ITEMS_MAX) {
			*why = "too many items";
			goto fail;
		}
		nv = xrealloc_array(v, n + 1, sizeof(*v));
		s = xstrndup(b.data, b.len);
		if (nv == NULL || s == NULL) {
			free(s);
			if (nv != NULL)
				v = nv;
			*why = "out of memory";
			goto fail;
		}
		v = nv;
		v[n++] = s;
	}
	buf_free(&b);
	buf_free(&tmp);
	*items = v;
	*nitems = n;
	return 0;
fail:
	buf_free(&b);
	buf_free(&tmp);
	alias_items_free(v, n);
	return -1;
}

/* ---- routes ------------------------------------------------------------ */

static int
route_host_ok(const char *h)
{
	unsigned char bin[16];
	const char *why;

	if (strchr(h, ':') != NULL)
		return inet_pton(AF_INET6, h, bin) == 1 ? 0 : -1;
	return addr_domain_valid(h, strlen(h), 0, &why);
}

static int
route_tls(const char *opt, enum route_tls *t)
{
	static const struct {
		const char *name;
		enum route_tls v;
	} tab[] = { { "may", ROUTE_TLS_MAY }, { "none", ROUTE_TLS_NONE },
	    { "encrypt", ROUTE_TLS_ENCRYPT }, { "verify", ROUTE_TLS_VERIFY },
	    { "dane", ROUTE_TLS_DANE } };
	size_t i;

	if (strncmp(opt, "tls=", 4) != 0)
		return -1;
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(opt + 4, tab[i].name) == 0) {
			*t = tab[i].v;
			return 0;
		}
	return -1;
}

static int
route_target(const char *tg, struct route *r, const char **why)
{
	unsigned port;

	if (strcmp(tg, "direct") == 0) {
		r->kind = ROUTE_MX;
		return 0;
	}
	if (strncmp(tg, "lmtp:", 5) == 0) {
		tg += 5;
		if (tg[0] == '/') {
			if (strlen(tg) >= sizeof(r->path)) {
				*why = "LMTP socket path too long";
				return -1;
			}
			r->kind = ROUTE_LMTP_UNIX;
			memcpy(r->path, tg, strlen(tg) + 1);
			memcpy(r->host, tg, strlen(tg) + 1);
			return 0;
		}
		r->kind = ROUTE_LMTP_TCP;
		r->nomx = 1;
	} else {
		r->kind = ROUTE_SMTP;
		r->nomx = tg[0] == '[';
	}
	if (parse_hostport(tg, r->host, sizeof(r->host), &port) == -1 ||
	    route_host_ok(r->host) == -1) {
		*why = "malformed host[:port]";
		return -1;
	}
	r->port = port;
	return 0;
}

int
route_parse(const char *value, struct route *r, const char **why)
{
	char tok[512];
	const char *p = value;
	size_t n, ntok = 0;

	memset(r, 0, sizeof(*r));
	r->tls = ROUTE_TLS_MAY;
	for (;;) {
		while (blank(*p))
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, " \t");
		if (n >= sizeof(tok)) {
			*why = "route too long";
			return -1;
		}
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		if (ntok++ == 0) {
			if (route_target(tok, r, why) == -1)
				return -1;
		} else if (route_tls(tok, &r->tls) == -1) {
			*why = "unknown route option (expected "
			    "tls=may|encrypt|verify|dane|none)";
			return -1;
		}
	}
	if (ntok == 0) {
		*why = "empty route";
		return -1;
	}
	return 0;
}

int
route_lookup(const struct table *routes, const char *domain,
    struct route *r, const char **why)
{
	const struct table_entry *e;
	const char *d;

	e = table_lookup(routes, domain);
	for (d = strchr(domain, '.'); e == NULL && d != NULL;
	    d = strchr(d + 1, '.'))
		e = table_lookup(routes, d);	/* ".parent" */
	if (e == NULL)
		e = table_lookup(routes, "*");
	if (e == NULL)
		return 0;
	if (route_parse(e->value, r, why) == -1)
		return -1;
	return 1;
}

/*
 * addr.c — RFC 5321 §4.1.2 envelope addresses (addr.h).
 *
 * The grammar is followed exactly, with RFC 6531's UTF-8 extensions only
 * under ADDR_UTF8:
 *
 *   Path        = "<" [ A-d-l ":" ] Mailbox ">"      (A-d-l is stripped)
 *   Mailbox     = Local-part "@" ( Domain / address-literal )
 *   Local-part  = Dot-string / Quoted-string        (<= 64 octets)
 *   Dot-string  = Atom *("." Atom),  Atom = 1*atext
 *   Quoted-string = DQUOTE *( qtextSMTP / "\" %d32-126 ) DQUOTE
 *   Domain      = sub-domain *("." sub-domain)      (<= 255 octets)
 *   sub-domain  = Let-dig [Ldh-str]                 (<= 63 octets, ASCII)
 *   address-literal = "[" IPv4 / "IPv6:" IPv6 "]"   (general literals are
 *                                                    refused)
 *
 * Everything handed in is hostile (SMTP arguments, sendmail command lines,
 * spool files); every index is checked against the given length, so the
 * input need not be NUL-terminated, and an embedded NUL, a control
 * character (C0, DEL, and under UTF-8 C1), a Unicode line separator or
 * bidirectional formatting character, or invalid UTF-8 is a rejection
 * with a reason, never a truncation.  Nothing after a successful parse reaches a branch that has
 * not seen the whole address validated (OpenSMTPD CVE-2020-7247).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "common/addr.h"

#define ADDR_PATH_MAX 256

/* Parser state over s[0..len). */
struct ap {
	const char *s;
	size_t len, i;
	unsigned flags;
	bool utf8;		/* saw a non-ASCII octet */
	const char *why;
};

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

bool
mem_has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

bool
str_has_8bit(const char *s)
{
	return s != NULL && mem_has_8bit(s, strlen(s));
}

bool
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	unsigned long cp;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf) {
			n = 1;
			cp = p[i] & 0x1f;
		} else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			n = 2;
			cp = p[i] & 0x0f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			n = 3;
			cp = p[i] & 0x07;
		} else
			return false;	/* continuation, overlong lead, >F4 */
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/*
 * Code points an address must not hold even under SMTPUTF8, in s[0..len)
 * (valid UTF-8): the C1 controls U+0080-U+009F (U+0085 is a line end to
 * some software), the Unicode line and paragraph separators U+2028 and
 * U+2029, and the bidirectional formatting characters (Bidi_Control:
 * U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), which make an
 * address display as another one in logs, Delivered-To and bounces.
 */
static bool
utf8_addr_chars_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n, k;
	unsigned long cp;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		n = p[i] >= 0xf0 ? 3 : p[i] >= 0xe0 ? 2 : 1;
		cp = p[i] & (0x3fu >> n);
		for (k = 1; k <= n && i + k < len; k++)
			cp = (cp << 6) | (p[i + k] & 0x3f);
		if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x61c ||
		    cp == 0x200e || cp == 0x200f ||
		    (cp >= 0x2028 && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069))
			return false;
		i += n + 1;
	}
	return true;
}

/* A non-ASCII octet: allowed only with ADDR_UTF8 (checked as UTF-8 over
 * the whole part afterwards). */
static bool
nonascii_ok(struct ap *a, unsigned char c)
{
	if (c < 0x80)
		return false;
	if (!(a->flags & ADDR_UTF8)) {
		a->why = "non-ASCII address without SMTPUTF8";
		return false;
	}
	a->utf8 = true;
	return true;
}

static int
fail(struct ap *a, const char *why)
{
	if (a->why == NULL)
		a->why = why;
	return -1;
}

static int
parse_quoted(struct ap *a)
{
	unsigned char c;

	a->i++;	/* the opening quote */
	while (a->i < a->len) {
		c = (unsigned char)a->s[a->i];
		if (c == '"') {
			a->i++;
			return 0;
		}
		if (c == '\\') {
			if (a->i + 1 >= a->len)
				break;
			c = (unsigned char)a->s[a->i + 1];
			if (c < 32 || c > 126)
				return fail(a, "invalid quoted-pair in local "
				    "part");
			a->i += 2;
			continue;
		}
		if ((c >= 32 && c <= 126) || nonascii_ok(a, c)) {
			a->i++;
			continue;
		}
		return fail(a, "invalid character in quoted local part");
	}
	return fail(a, "unterminated quoted local part");
}

static int
parse_dotstring(struct ap *a)
{
	size_t start = a->i;
	unsigned char c;
	bool dot_ok = false;

	while (a->i < a->len) {
		c = (unsigned char)a->s[a->i];
		if (c == '.') {
			if (!dot_ok)
				return fail(a, "empty atom in local part "
				    "(leading or double dot)");
			dot_ok = false;
		} else if (is_atext(c) || nonascii_ok(a, c))
			dot_ok = true;
		else if (c >= 0x80)
			return -1;	/* why set by nonascii_ok */
		else
			break;
		a->i++;
	}
	if (a->i == start)
		return fail(a, "empty local part");
	if (!dot_ok)
		return fail(a, "local part ends with a dot");
	return 0;
}

static int
parse_local(struct ap *a, struct addr *out)
{
	size_t start = a->i, n;
	int r;

	if (a->i >= a->len)
		return fail(a, "empty local part");
	if (a->s[a->i] == '"')
		r = parse_quoted(a);
	else
		r = parse_dotstring(a);
	if (r == -1)
		return -1;
	n = a->i - start;
	if (n > ADDR_LOCAL_MAX)
		return fail(a, "local part longer than 64 octets");
	if (a->utf8 && !utf8_valid(a->s + start, n))
		return fail(a, "invalid UTF-8 in local part");
	if (a->utf8 && !utf8_addr_chars_ok(a->s + start, n))
		return fail(a, "control or bidirectional formatting character "
		    "in local part");
	memcpy(out->local, a->s + start, n);
	out->local[n] = '\0';
	return 0;
}

/* Strict dotted quad: Snum = 1*3DIGIT with a value 0..255. */
static bool
ipv4_literal_ok(const char *s, size_t n)
{
	size_t i = 0, digits;
	unsigned v, part;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
		for (v = 0, digits = 0; i < n && is_digit((unsigned char)s[i]);
		    i++, digits++) {
			if (digits == 3)
				return false;
			v = v * 10 + (unsigned)(s[i] - '0');
		}
		if (digits == 0 || v > 255)
			return false;
	}
	return i == n;
}

static int
literal_valid(struct ap *a, const char *s, size_t n)
{
	unsigned char bin[16];
	char tmp[64];

	/* s[0] == '[', s[n-1] == ']' */
	if (n < 3 || s[n - 1] != ']')
		return fail(a, "unterminated address literal");
	s++;
	n -= 2;
	if (n > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		if (n - 5 >= sizeof(tmp))
			return fail(a, "invalid IPv6 address literal");
		memcpy(tmp, s + 5, n - 5);
		tmp[n - 5] = '\0';
		if (memchr(s + 5, '\0', n - 5) != NULL ||
		    inet_pton(AF_INET6, tmp, bin) != 1)
			return fail(a, "invalid IPv6 address literal");
		return 0;
	}
	if (is_digit((unsigned char)s[0])) {
		if (!ipv4_literal_ok(s, n))
			return fail(a, "invalid IPv4 address literal");
		return 0;
	}
	if (memchr(s, ':', n) != NULL)
		return fail(a, "general address literals are not supported");
	return fail(a, "invalid address literal");
}

/* Validate a domain name s[0..n) label by label. */
static int
name_valid(struct ap *a, const char *s, size_t n)
{
	size_t i, start = 0;
	bool ascii = true;
	unsigned char c;

	if (n == 0)
		return fail(a, "empty domain");
	if (n > ADDR_DOMAIN_MAX)
		return fail(a, "domain longer than 255 octets");
	for (i = 0; i <= n; i++) {
		c = i < n ? (unsigned char)s[i] : '.';
		if (c == '.') {
			if (i == start)
				return fail(a, "empty label in domain");
			if (s[start] == '-' || s[i - 1] == '-')
				return fail(a, "domain label starts or ends "
				    "with a hyphen");
			if (ascii && i - start > ADDR_LABEL_MAX)
				return fail(a, "domain label longer than 63 "
				    "octets");
			start = i + 1;
			ascii = true;
		} else if (is_alpha(c) || is_digit(c) || c == '-')
			continue;
		else if (c >= 0x80 && nonascii_ok(a, c))
			ascii = false;
		else if (c >= 0x80)
			return -1;
		else
			return fail(a, "invalid character in domain");
	}
	if (a->utf8 && !utf8_valid(s, n))
		return fail(a, "invalid UTF-8 in domain");
	if (a->utf8 && !utf8_addr_chars_ok(s, n))
		return fail(a, "control or bidirectional formatting character "
		    "in domain");
	return 0;
}

static int
domain_check(struct ap *a, const char *s, size_t n, bool *literal)
{
	*literal = n > 0 && s[0] == '[';
	if (*literal) {
		if (n > ADDR_DOMAIN_MAX)
			return fail(a, "domain longer than 255 octets");
		return literal_valid(a, s, n);
	}
	return name_valid(a, s, n);
}

/* Find the end of the domain starting at a->i: up to ']' for literals,
 * else the run of octets that may belong to a domain. */
static size_t
domain_end(const struct ap *a)
{
	size_t i = a->i;
	unsigned char c;

	if (i < a->len && a->s[i] == '[') {
		while (i < a->len && a->s[i] != ']' && a->s[i] != '>')
			i++;
		return i < a->len && a->s[i] == ']' ? i + 1 : i;
	}
	for (; i < a->len; i++) {
		c = (unsigned char)a->s[i];
		if (!(is_alpha(c) || is_digit(c) || c == '-' || c == '.' ||
		    c >= 0x80))
			break;
	}
	return i;
}

static int
parse_domain(struct ap *a, struct addr *out)
{
	size_t end = domain_end(a), n = end - a->i;

	if (domain_check(a, a->s + a->i, n, &out->literal) == -1)
		return -1;
	memcpy(out->domain, a->s + a->i, n);
	out->domain[n] = '\0';
	addr_domain_canon(out->domain);
	a->i = end;
	return 0;
}

static int
parse_mailbox(struct ap *a, struct addr *out)
{
	if (parse_local(a, out) == -1)
		return -1;
	if (a->i >= a->len || a->s[a->i] != '@') {
		if (a->flags & ADDR_ALLOW_NODOMAIN &&
		    (a->i == a->len || a->s[a->i] == '>')) {
			out->domain[0] = '\0';
			return 0;
		}
		return fail(a, a->i >= a->len || a->s[a->i] == '>' ?
		    "missing @domain" : "invalid character in local part");
	}
	a->i++;
	if (a->i >= a->len || a->s[a->i] == '>')
		return fail(a, "missing domain after @");
	if (parse_domain(a, out) == -1)
		return -1;
	/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with "<>" */
	if (strlen(out->local) + 1 + strlen(out->domain) > ADDR_PATH_MAX - 2)
		return fail(a, "address longer than 254 octets");
	return 0;
}

/* A-d-l ":" — "@dom,@dom:" — validated and dropped. */
static int
parse_route(struct ap *a)
{
	struct addr scratch;

	for (;;) {
		if (a->i >= a->len || a->s[a->i] != '@')
			return fail(a, "invalid source route");
		a->i++;
		if (parse_domain(a, &scratch) == -1)
			return -1;
		if (a->i < a->len && a->s[a->i] == ',') {
			a->i++;
			continue;
		}
		if (a->i < a->len && a->s[a->i] == ':') {
			a->i++;
			return 0;
		}
		return fail(a, "invalid source route");
	}
}

static void
addr_clear(struct addr *out)
{
	memset(out, 0, sizeof(*out));
}

int
addr_parse_path(const char *s, size_t len, unsigned flags,
    struct addr *out, size_t *consumed, const char **why)
{
	struct ap a = { s, len, 0, flags, false, NULL };

	addr_clear(out);
	if (len == 0 || s[0] != '<') {
		*why = "address must be enclosed in <>";
		return -1;
	}
	a.i = 1;
	if (len >= 2 && s[1] == '>') {
		if (!(flags & ADDR_ALLOW_NULL)) {
			*why = "null address not allowed here";
			return -1;
		}
		out->null = true;
		*consumed = 2;
		return 0;
	}
	if (a.i < len && s[a.i] == '@' && parse_route(&a) == -1)
		goto bad;
	if (parse_mailbox(&a, out) == -1)
		goto bad;
	if (a.i >= len || s[a.i] != '>') {
		fail(&a, a.i >= len ? "missing closing >" :
		    "invalid character in address");
		goto bad;
	}
	out->utf8 = a.utf8;
	*consumed = a.i + 1;
	return 0;
bad:
	addr_clear(out);
	*why = a.why;
	return -1;
}

int
addr_parse_mailbox(const char *s, size_t len, unsigned flags,
    struct addr *out, const char **why)
{
	struct ap a = { s, len, 0, flags & ~(unsigned)ADDR_ALLOW_NULL, false,
	    NULL };

	addr_clear(out);
	if (parse_mailbox(&a, out) == -1)
		goto bad;
	if (a.i != len) {
		fail(&a, "invalid character in address");
		goto bad;
	}
	out->utf8 = a.utf8;
	return 0;
bad:
	addr_clear(out);
	*why = a.why;
	return -1;
}

int
addr_domain_valid(const char *s, size_t len, unsigned flags,
    const char **why)
{
	struct ap a = { s, len, 0, flags, false, NULL };
	bool literal;

	if (domain_check(&a, s, len, &literal) == -1) {
		*why = a.why;
		return -1;
	}
	return 0;
}

int
addr_format(const struct addr *a, char *out, size_t outsz)
{
	size_t ll, dl, n;

	if (outsz == 0)
		return -1;
	if (a->null) {
		out[0] = '\0';
		return 0;
	}
	ll = strnlen(a->local, sizeof(a->local));
	dl = strnlen(a->domain, sizeof(a->domain));
	n = ll + (dl > 0 ? 1 + dl : 0);
	if (n >= outsz || ll == sizeof(a->local) || dl == sizeof(a->domain))
		return -1;
	memcpy(out, a->local, ll);
	if (dl > 0) {
		out[ll] = '@';
		memcpy(out + ll + 1, a->domain, dl);
	}
	out[n] = '\0';
	return (int)n;
}

int
addr_local_unquoted(const struct addr *a, char *out, size_t outsz)
{
	const char *p = a->local;
	size_t n = 0, len = strnlen(a->local, sizeof(a->local)), i = 0;

	if (len > 0 && p[0] == '"') {
		i = 1;
		len--;	/* the closing quote */
	}
	for (; i < len; i++) {
		if (p[0] == '"' && p[i] == '\\' && i + 1 < len)
			i++;
		if (n + 1 >= outsz)
			return -1;
		out[n++] = p[i];
	}
	if (outsz == 0)
		return -1;
	out[n] = '\0';
	return (int)n;
}

/*
 * RFC 5321's Snum is a decimal number of up to three digits, so
 * [192.000.002.001] is [192.0.2.1]; but inet_pton() refuses leading
 * zeros (remote delivery would look the literal up as a host name) and
 * inet_aton()/getaddrinfo() read them as octal ("010" is 8).  Writing the
 * literal without them where it is parsed gives every later user (local
 * domain matching, remote delivery, logs) the one decimal form.
 */
void
addr_domain_canon(char *d)
{
	size_t n = strlen(d);
	const char *r;
	char *w;

	if (n < 3 || d[0] != '[' || d[n - 1] != ']' ||
	    !is_digit((unsigned char)d[1]) || !ipv4_literal_ok(d + 1, n - 2))
		return;
	for (r = w = d + 1; *r != ']';) {
		while (r[0] == '0' && is_digit((unsigned char)r[1]))
			r++;	/* leading zeros, not the last digit */
		while (is_digit((unsigned char)*r))
			*w++ = *r++;
		if (*r == '.')
			*w++ = *r++;
	}
	*w++ = ']';
	*w = '\0';
}

bool
addr_local_key_ok(const char *unquoted)
{
	return unquoted[0] != '\0' && strchr(unquoted, '@') == NULL;
}

void
addr_split_ext(const char *local, char delim, char *user, char *ext)
{
	size_t len = strnlen(local, ADDR_LOCAL_MAX);
	const char *d = delim != '\0' ? memchr(local, delim, len) : NULL;

	/* a delimiter in first position is part of the name ("+list") */
	if (d == NULL || d == local) {
		memcpy(user, local, len);
		user[len] = '\0';
		ext[0] = '\0';
		return;
	}
	memcpy(user, local, (size_t)(d - local));
	user[d - local] = '\0';
	memcpy(ext, d + 1, len - (size_t)(d - local) - 1);
	ext[len - (size_t)(d - local) - 1] = '\0';
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool
addr_domain_eq(const char *a, const char *b)
{
	size_t i;

	for (i = 0; a[i] != '\0' && b[i] != '\0'; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return a[i] == b[i];
}

void
addr_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = lower(*s);
}

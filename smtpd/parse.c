/*
 * parse.c — syntax of SMTP command arguments: the verb split, MAIL FROM /
 * RCPT TO paths and their ESMTP parameters (SIZE, BODY, SMTPUTF8, RET,
 * ENVID, AUTH; NOTIFY, ORCPT), BDAT sizes and HELO names.
 *
 * Input: one command line from the peer, already stripped of its CRLF and
 * checked for length and NUL octets by the session.  Trust: none; every
 * value is length-checked, numbers are overflow-checked, duplicates and
 * unknown keywords are refused with the reply the session sends.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/units.h"
#include "smtpd/smtpd.h"

#define PARAM_MAX	512	/* one "KEY=VALUE" */
#define ENVID_MAX	100	/* RFC 3461 §4.4 */
#define ORCPT_MAX	500	/* RFC 3461 §4.2 */

static int
fail(struct parse_error *pe, int code, const char *dsn, const char *why)
{
	pe->code = code;
	pe->dsn = dsn;
	pe->why = why;
	return -1;
}

void
smtp_split_verb(const char *line, size_t len, size_t *verblen,
    const char **args)
{
	size_t i = 0;

	while (i < len && line[i] != ' ')
		i++;
	*verblen = i;
	while (i < len && line[i] == ' ')
		i++;
	*args = line + i;
}

int
smtp_parse_path_arg(const char *args, const char *prefix, unsigned flags,
    struct addr *a, const char **rest, struct parse_error *pe)
{
	size_t plen = strlen(prefix), consumed, len;
	const char *p, *why = NULL;
	const char *dsn = (flags & ADDR_ALLOW_NULL) ? "5.1.7" : "5.1.3";

	if (strncasecmp(args, prefix, plen) != 0)
		return fail(pe, 501, "5.5.4", "Syntax error in parameters");
	p = args + plen;
	while (*p == ' ')
		p++;
	if (*p != '<')
		return fail(pe, 501, dsn, "Address must be in angle brackets");
	len = strlen(p);
	if (addr_parse_path(p, len, flags, a, &consumed, &why) != 0)
		return fail(pe, 501, dsn, why ? why : "Bad address syntax");
	p += consumed;
	if (*p != '\0' && *p != ' ')
		return fail(pe, 501, dsn, "Garbage after address");
	while (*p == ' ')
		p++;
	*rest = p;
	return 0;
}

/* Next "KEY[=VALUE]" word of s into key/val; returns the position after
 * it, or NULL at the end.  *bad set when the word is malformed. */
static const char *
next_param(const char *s, char *key, size_t keysz, char *val, size_t valsz,
    bool *hasval, bool *bad)
{
	size_t n = 0, k = 0, v = 0;

	*bad = false;
	*hasval = false;
	while (*s == ' ')
		s++;
	if (*s == '\0')
		return NULL;
	while (s[n] != '\0' && s[n] != ' ')
		n++;
	if (n > PARAM_MAX) {
		*bad = true;
		return s + n;
	}
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	while (k < n && s[k] != '=') {
		unsigned char c = (unsigned char)s[k];
		if (!(isascii(c) && (isalnum(c) || (c == '-' && k > 0))) ||
		    k + 1 >= keysz) {
			*bad = true;
			return s + n;
		}
		key[k] = (char)c;
		k++;
	}
	key[k] = '\0';
	if (k == 0) {
		*bad = true;
		return s + n;
	}
	if (k < n) {
		*hasval = true;
		/* esmtp-value = 1*(%d33-60 / %d62-126) */
		for (size_t i = k + 1; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c < 33 || c > 126 || c == '=' || v + 1 >= valsz) {
				*bad = true;
				return s + n;
			}
			val[v++] = (char)c;
		}
		if (v == 0) {
			*bad = true;
			return s + n;
		}
	}
	val[v] = '\0';
	return s + n;
}

/* A strict decimal number of at most 20 digits.  With saturate, a value
 * beyond 2^64-1 becomes UINT64_MAX (a SIZE that is simply too big). */
static int
parse_decimal(const char *s, uint64_t *out, bool saturate)
{
	size_t n = strlen(s);

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	if (parse_uint(s, UINT64_MAX, out) == 0)
		return 0;
	if (!saturate)
		return -1;
	*out = UINT64_MAX;
	return 0;
}

static int
xtext_value(const char *v, size_t max, char **out, struct parse_error *pe)
{
	struct buf b = BUF_INIT;

	if (xtext_decode(v, strlen(v), &b) != 0 || b.len == 0 ||
	    b.len > max) {
		buf_free(&b);
		return fail(pe, 501, "5.5.4", "Malformed xtext value");
	}
	/* decoded text must be printable ASCII */
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];
		if (c < 32 || c > 126) {
			buf_free(&b);
			return fail(pe, 501, "5.5.4", "Malformed xtext value");
		}
	}
	*out = buf_detach(&b);
	if (*out == NULL)
		return fail(pe, 451, "4.3.0", "Out of memory");
	return 0;
}

int
smtp_parse_mail_params(const char *rest, bool esmtp, uint64_t max_size,
    struct mail_params *mp, struct parse_error *pe)
{
	char key[32], val[PARAM_MAX + 1];
	bool hasval, bad, seen_body = false, seen_ret = false;
	const char *p = rest;

	memset(mp, 0, sizeof(*mp));
	while ((p = next_param(p, key, sizeof(key), val, sizeof(val),
	    &hasval, &bad)) != NULL) {
		if (bad)
			return fail(pe, 501, "5.5.4", "Malformed parameter");
		if (!esmtp)
			return fail(pe, 555, "5.5.4",
			    "Parameters need EHLO");
		if (strcasecmp(key, "SIZE") == 0) {
			if (mp->size_given || !hasval ||
			    parse_decimal(val, &mp->size, true) != 0)
				return fail(pe, 501, "5.5.4",
				    "Bad SIZE parameter");
			mp->size_given = true;
			if (max_size > 0 && mp->size > max_size)
				return fail(pe, 552, "5.3.4",
				    "Message size exceeds fixed limit");
		} else if (strcasecmp(key, "BODY") == 0) {
			if (seen_body || !hasval)
				return fail(pe, 501, "5.5.4",
				    "Bad BODY parameter");
			if (strcasecmp(val, "7BIT") == 0)
				mp->body = BODY_7BIT;
			else if (strcasecmp(val, "8BITMIME") == 0)
				mp->body = BODY_8BITMIME;
			else
				return fail(pe, 501, "5.5.4",
				    "Unsupported BODY type");
			seen_body = true;
		} else if (strcasecmp(key, "SMTPUTF8") == 0) {
			if (mp->smtputf8 || hasval)
				return fail(pe, 501, "5.5.4",
				    "Bad SMTPUTF8 parameter");
			mp->smtputf8 = true;
		} else if (strcasecmp(key, "RET") == 0) {
			if (seen_ret || !hasval)
				return fail(pe, 501, "5.5.4",
				    "Bad RET parameter");
			if (strcasecmp(val, "FULL") == 0)
				mp->ret = RET_FULL;
			else if (strcasecmp(val, "HDRS") == 0)
				mp->ret = RET_HDRS;
			else
				return fail(pe, 501, "5.5.4",
				    "Bad RET parameter");
			seen_ret = true;
		} else if (strcasecmp(key, "ENVID") == 0) {
			if (mp->envid != NULL || !hasval)
				return fail(pe, 501, "5.5.4",
				    "Bad ENVID parameter");
			if (xtext_value(val, ENVID_MAX, &mp->envid, pe) != 0)
				return -1;
		} else if (strcasecmp(key, "AUTH") == 0) {
			char *tmp = NULL;
			if (mp->auth_given || !hasval)
				return fail(pe, 501, "5.5.4",
				    "Bad AUTH parameter");
			if (strcmp(val, "<>") != 0) {
				if (xtext_value(val, ADDR_MAX, &tmp, pe) != 0)
					return -1;
				free(tmp);
			}
			mp->auth_given = true;
		} else
			return fail(pe, 555, "5.5.4",
			    "Unsupported parameter");
	}
	return 0;
}

/* ORCPT=addr-type;xtext (RFC 3461 §4.2) */
static int
orcpt_value(const char *val, char **out, struct parse_error *pe)
{
	const char *semi = strchr(val, ';');
	char *addr = NULL;
	struct buf b = BUF_INIT;
	size_t tlen;

	if (semi == NULL || semi == val)
		return fail(pe, 501, "5.5.4", "Bad ORCPT parameter");
	tlen = (size_t)(semi - val);
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)val[i];
		if (!isascii(c) || !(isalnum(c) || c == '-'))
			return fail(pe, 501, "5.5.4", "Bad ORCPT parameter");
	}
	/* Validate the xtext, but keep ORCPT as given, still encoded: that
	 * is what envelope.h stores, what posthorn-remote passes on and what
	 * posthorn-bounce decodes for Original-Recipient. */
	if (xtext_value(semi + 1, ORCPT_MAX, &addr, pe) != 0)
		return -1;
	free(addr);
	if (buf_append_str(&b, val) != 0) {
		buf_free(&b);
		return fail(pe, 451, "4.3.0", "Out of memory");
	}
	*out = buf_detach(&b);
	if (*out == NULL)
		return fail(pe, 451, "4.3.0", "Out of memory");
	return 0;
}

int
smtp_parse_rcpt_params(const char *rest, bool esmtp, struct rcpt_params *rp,
    struct parse_error *pe)
{
	char key[32], val[PARAM_MAX + 1];
	bool hasval, bad, seen_notify = false;
	const char *p = rest;

	memset(rp, 0, sizeof(*rp));
	while ((p = next_param(p, key, sizeof(key), val, sizeof(val),
	    &hasval, &bad)) != NULL) {
		if (bad)
			return fail(pe, 501, "5.5.4", "Malformed parameter");
		if (!esmtp)
			return fail(pe, 555, "5.5.4",
			    "Parameters need EHLO");
		if (strcasecmp(key, "NOTIFY") == 0) {
			if (seen_notify || !hasval ||
			    notify_parse(val, &rp->notify) != 0)
				return fail(pe, 501, "5.5.4",
				    "Bad NOTIFY parameter");
			seen_notify = true;
		} else if (strcasecmp(key, "ORCPT") == 0) {
			if (rp->orcpt != NULL || !hasval)
				return fail(pe, 501, "5.5.4",
				    "Bad ORCPT parameter");
			if (orcpt_value(val, &rp->orcpt, pe) != 0)
				return -1;
		} else
			return fail(pe, 555, "5.5.4",
			    "Unsupported parameter");
	}
	return 0;
}

void
mail_params_free(struct mail_params *mp)
{
	free(mp->envid);
	mp->envid = NULL;
}

void
rcpt_params_free(struct rcpt_params *rp)
{
	free(rp->orcpt);
	rp->orcpt = NULL;
}

int
smtp_parse_bdat(const char *args, uint64_t *size, bool *last)
{
	char num[32];
	size_t n = 0;
	const char *p = args;

	while (*p >= '0' && *p <= '9') {
		if (n + 1 >= sizeof(num) || n >= 20)
			return -1;
		num[n++] = *p++;
	}
	num[n] = '\0';
	if (n == 0 || parse_decimal(num, size, false) != 0 ||
	    (*p != '\0' && *p != ' '))
		return -1;
	*last = false;
	if (*p == '\0')
		return 0;
	while (*p == ' ')
		p++;
	if (strcasecmp(p, "LAST") != 0)
		return -2;
	*last = true;
	return 0;
}

bool
smtp_helo_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SMTP_HELO_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 32 || (unsigned char)s[i] >= 127)
			return false;
	return true;
}

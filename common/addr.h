/*
 * addr.h — RFC 5321 envelope address parsing.
 *
 * Parses a Reverse-path / Forward-path ("<...>" with optional source route,
 * which is accepted and stripped) or a bare Mailbox.  Local parts are
 * dot-strings or quoted-strings of at most 64 octets (as written, quotes
 * included); domains at most 255 octets with labels of at most 63, or
 * address literals [1.2.3.4] (stored without leading zeros) / [IPv6:...];
 * local@domain at most 254
 * octets (a 256-octet path, RFC 5321 4.5.3.1.3).  Non-ASCII (valid UTF-8
 * only) is allowed only with ADDR_UTF8 (SMTPUTF8, RFC 6531), without C1
 * controls (U+0080-U+009F), U+2028/U+2029 and the bidirectional
 * formatting characters (U+061C, U+200E/F, U+202A-E, U+2066-9).  Input is
 * hostile: every length is checked, NUL and control characters are
 * refused, and a rejection comes with a short English reason.
 */
#ifndef POSTHORN_ADDR_H
#define POSTHORN_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX	64
#define ADDR_DOMAIN_MAX	255
#define ADDR_LABEL_MAX	63
/* local@domain plus NUL */
#define ADDR_MAX	(ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX + 1)

struct addr {
	char local[ADDR_LOCAL_MAX + 1];	/* as written (quoted form kept) */
	char domain[ADDR_DOMAIN_MAX + 1];	/* "" only for null / no-domain */
	bool null;		/* the null path <> */
	bool utf8;		/* contains non-ASCII octets */
	bool literal;		/* domain is an address literal */
};

/* Flags */
#define ADDR_ALLOW_NULL		0x01	/* accept <> (MAIL FROM) */
#define ADDR_UTF8		0x02	/* SMTPUTF8: UTF-8 allowed */
#define ADDR_ALLOW_NODOMAIN	0x04	/* bare local part ok (sendmail args,
					   RCPT TO:<postmaster>) */

/* Parse a path "<...>" at s[0..len).  On success stores the address and
 * the number of octets consumed (up to and including '>') and returns 0.
 * On failure returns -1 and sets *why to a static reason. */
int addr_parse_path(const char *s, size_t len, unsigned flags,
    struct addr *out, size_t *consumed, const char **why);
/* Parse a whole bare mailbox "local@domain" (no brackets, nothing after). */
int addr_parse_mailbox(const char *s, size_t len, unsigned flags,
    struct addr *out, const char **why);
/* Validate a domain name or address literal. */
int addr_domain_valid(const char *s, size_t len, unsigned flags,
    const char **why);
/* An IPv4 literal with leading zeros in place without them
 * ("[192.000.002.001]" -> "[192.0.2.1]": RFC 5321 numbers are decimal);
 * anything else is left alone.  The parsers above store domains so. */
void addr_domain_canon(char *d);

/* "local@domain", or "" for the null path.  Returns the length, or -1 if
 * it does not fit (ADDR_MAX always fits). */
int addr_format(const struct addr *a, char *out, size_t outsz);
/* The local part with quoting removed (for table lookups). */
int addr_local_unquoted(const struct addr *a, char *out, size_t outsz);
/* May an unquoted local part be looked up in a table (mailboxes, aliases,
 * relocated)?  Not when it holds '@' (only possible quoted,
 * "x@y"@domain): as a key it would match a full-address entry of another
 * domain ("x@y") or a relocated "@domain" entry.  (Blanks cannot occur in
 * keys and quotes change nothing, so no other character is ambiguous.) */
bool addr_local_key_ok(const char *unquoted);
/* Split a local part at the first delim ('+'): user and extension ("" if
 * none; a delimiter in the first position does not split, and delim 0
 * never splits).  Both outputs must be ADDR_LOCAL_MAX + 1 bytes. */
void addr_split_ext(const char *local, char delim, char *user, char *ext);
/* ASCII case-insensitive domain comparison. */
bool addr_domain_eq(const char *a, const char *b);
/* Lowercase ASCII letters in place. */
void addr_lower(char *s);
/* Is s valid UTF-8 (no overlongs, no surrogates)? */
bool utf8_valid(const char *s, size_t len);
/* Does s[0..n), or the string s (NULL: no), hold an octet >= 0x80?  An
 * address or domain that does needs SMTPUTF8 or IDNA. */
bool mem_has_8bit(const char *s, size_t n);
bool str_has_8bit(const char *s);

#endif

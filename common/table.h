/*
 * table.h — the lookup tables of the configuration directory.
 *
 *   TABLE_SPACE    "key  value..."   mailboxes, relocated, routes
 *   TABLE_COLON    "key:value"       passwd (value taken verbatim)
 *   TABLE_ALIASES  "key: value"      aliases; lines starting with white
 *                                    space continue the previous entry
 *
 * '#' starts a comment line (not inside a value); blank lines are skipped
 * (in aliases neither ends the entry: an indented line after them still
 * continues it, as with Postfix).  Lines may end in CRLF; other CRs are
 * errors.  Keys are compared ASCII case-insensitively.  A line without a
 * value, a duplicate key, a NUL byte or an overlong line (> 4096) is an
 * error naming file and line -- except that a duplicate alias is logged
 * (event=table_duplicate file=FILE:LINE) and ignored, the first entry
 * winning, as with postalias(1).  A missing file is an empty table.
 * Lookups use binary search over the sorted entries.
 */
#ifndef POSTHORN_TABLE_H
#define POSTHORN_TABLE_H

#include <stddef.h>

#include "common/buf.h"

enum table_syntax { TABLE_SPACE, TABLE_COLON, TABLE_ALIASES };

struct table_entry {
	char *key;
	char *value;
	unsigned line;
};

struct table {
	struct table_entry *v;
	size_t n;
	char *path;
};

int table_load(const char *path, enum table_syntax syntax, struct table *t,
    struct buf *err);
/* Same, from memory (tests, fuzzing); name is used in messages. */
int table_parse(const char *name, const char *text, size_t len,
    enum table_syntax syntax, struct table *t, struct buf *err);
const struct table_entry *table_lookup(const struct table *t, const char *key);
void table_free(struct table *t);

/* Split an aliases/.forward value into items, separated by commas
 * outside quotes and comments; surrounding white space trimmed, empty
 * items skipped.  "|cmd", "/file" and ":include:/path" are taken as
 * written, or unquoted when wholly in double quotes ("|prog a, b").
 * Other items are addresses: a quoted-string local part stays quoted
 * ("john doe"@example.org), comments "(...)" are dropped, "Name <addr>"
 * gives addr, a wholly quoted address loses its quotes when what is
 * inside is an address ("bob@x") and is split at its last '@' otherwise
 * ("john doe@x" gives "john doe"@x).  An item that reduces to no
 * address is returned as written, for the caller to refuse alone.
 * Items are malloc'd, never empty.  0 ok (maybe no items), -1 with *why
 * (unterminated quote or comment, a quote inside an unquoted program or
 * file, too many items). */
int alias_split(const char *value, char ***items, size_t *nitems,
    const char **why);
void alias_items_free(char **items, size_t n);

/* A routes entry: "domain  target [tls=may|encrypt|verify|dane|none]".
 * Targets: "host[:port]" (SMTP, MX lookup on host), "[host][:port]" (no
 * MX lookup; IPv6 as "[::1]:25"), "lmtp:host:port", "lmtp:[::1]:24",
 * "lmtp:/path.sock", and "direct" (ROUTE_MX: normal MX delivery, to exempt
 * a domain from a "*" smarthost).  Port 0 means the default. */
enum route_kind { ROUTE_MX, ROUTE_SMTP, ROUTE_LMTP_TCP, ROUTE_LMTP_UNIX };
enum route_tls { ROUTE_TLS_MAY, ROUTE_TLS_NONE, ROUTE_TLS_ENCRYPT,
	ROUTE_TLS_VERIFY, ROUTE_TLS_DANE };
struct route {
	enum route_kind kind;
	char host[256];		/* host name / IP, or socket path */
	char path[108];		/* ROUTE_LMTP_UNIX */
	unsigned port;		/* 0: default */
	int nomx;		/* "[host]": skip the MX lookup */
	enum route_tls tls;
};
/* Parse a routes value; 0 ok, -1 with *why. */
int route_parse(const char *value, struct route *r, const char **why);
/* The route for domain: exact entry, then ".parent" entries, then "*".
 * Returns 1 found, 0 none (use MX), -1 bad entry (*why). */
int route_lookup(const struct table *routes, const char *domain,
    struct route *r, const char **why);

#endif

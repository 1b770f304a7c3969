/*
 * mtasts.h — MTA-STS (RFC 8461) for posthorn-remote: the TXT record
 * "_mta-sts.DOMAIN", the policy fetched from
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt, its cache, and the
 * matching of MX host names against the policy's patterns.
 *
 * Everything here reads hostile bytes: the TXT record and the HTTPS
 * response come from the network, the cache files from a directory other
 * processes may have written.  All of it goes through the checked parsers
 * below (length-bounded, no arithmetic without a limit), which are also
 * the fuzz target's and the unit tests' entry points.
 */
#ifndef POSTHORN_REMOTE_MTASTS_H
#define POSTHORN_REMOTE_MTASTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "remote/dns.h"

#define MTASTS_BODY_MAX		65536	/* policy size limit (RFC 8461 3.3) */
#define MTASTS_HEAD_MAX		8192	/* HTTP response header section */
#define MTASTS_ID_MAX		32	/* 1*32(ALPHA / DIGIT) */
#define MTASTS_MX_MAX		32	/* mx lines kept */
#define MTASTS_MAXAGE_MAX	31557600	/* one year (RFC 8461 3.2) */
#define MTASTS_HTTPS_PORT	443
/* A cached policy is fetched again before it expires (RFC 8461 10.2),
 * once it is MTASTS_REFRESH_SEC old or half its max_age, whichever
 * comes first; after a failed attempt, not again for MTASTS_RETRY_SEC
 * (or a quarter of that interval, if shorter). */
#define MTASTS_REFRESH_SEC	86400
#define MTASTS_RETRY_SEC	3600

enum mtasts_mode { MTASTS_NONE, MTASTS_TESTING, MTASTS_ENFORCE };

struct mtasts_policy {
	enum mtasts_mode mode;
	uint64_t max_age;		/* seconds */
	char mx[MTASTS_MX_MAX][256];	/* patterns, lower case, no final dot */
	size_t nmx;
};

/* ---- parsers (pure; for tests and fuzzing too) ----------------------- */

/* One TXT record: "v=STSv1; id=..." (RFC 8461 3.1).  0 with id set
 * (NUL-terminated, at most MTASTS_ID_MAX), -1 with *why. */
int mtasts_txt_parse(const char *s, size_t len, char id[MTASTS_ID_MAX + 1],
    const char **why);
/* All TXT records of _mta-sts.DOMAIN: those not starting with "v=STSv1"
 * are ignored; exactly one must remain and parse.  0 / -1 with *why. */
int mtasts_txt_pick(const struct txtlist *l, char id[MTASTS_ID_MAX + 1],
    const char **why);
/* A policy body (RFC 8461 3.2).  0 ok, -1 with *why. */
int mtasts_policy_parse(const char *s, size_t len, struct mtasts_policy *p,
    const char **why);
/* An HTTP/1.x response: status 200, a text/plain Content-Type, no
 * Transfer-Encoding, a Content-Length (when given) equal to the body's
 * and at most MTASTS_BODY_MAX.  Without a Content-Length the body is
 * whatever came before the end, which is whole only if the server ended
 * TLS with close_notify (tls_closed): else an attacker who cuts the TCP
 * connection could shorten the policy (e.g. its max_age), so that is a
 * failure.  0 with *body and *body_len pointing into s, -1 with *why (a
 * redirect is a failure: RFC 8461 3.3). */
int mtasts_http_parse(const char *s, size_t len, bool tls_closed,
    const char **body, size_t *body_len, const char **why);
/* Does host (an MX name, a final dot allowed) match pattern (RFC 8461
 * 4.1: exact, or "*." matching exactly one leftmost label)? */
bool mtasts_pattern_match(const char *pattern, const char *host);
bool mtasts_mx_match(const struct mtasts_policy *p, const char *host);

/* Cache file: "posthorn-mta-sts 1\ndomain D\nid I\nfetched T\n\n" and
 * the policy body as fetched.  parse: 0 with id, *fetched and the policy
 * (parsed by mtasts_policy_parse), -1 with *why when anything is off
 * (including a domain other than the one asked for). */
int mtasts_cache_format(struct buf *out, const char *domain, const char *id,
    int64_t fetched, const char *body, size_t body_len);
int mtasts_cache_parse(const char *s, size_t len, const char *domain,
    char id[MTASTS_ID_MAX + 1], int64_t *fetched, struct mtasts_policy *p,
    const char **why);

/* ---- the policy of a domain ------------------------------------------ */

struct mtasts {
	const char *cache_dir;	/* NULL: keep policies in memory only */
	SSL_CTX *ctx;		/* verifies against tls_ca_file / system */
	struct dns *dns;
	int connect_ms;		/* per connection attempt */
	int fetch_ms;		/* the whole HTTPS fetch */
	unsigned port;		/* MTASTS_HTTPS_PORT */
	int cache_ok;		/* 1 usable, 0 unknown, -1 refused (not a
				   directory of ours alone, or broken) */
	/* the last policy, for the agent's next job to the same domain */
	char mem_domain[256];
	char mem_id[MTASTS_ID_MAX + 1];
	int64_t mem_fetched;
	int64_t mem_tried;	/* last failed refresh (0: none) */
	struct mtasts_policy mem;
};

/* Where a policy came from. */
#define MTASTS_SRC_FETCHED	"fetched"
#define MTASTS_SRC_CACHE	"cache"
#define MTASTS_SRC_REFRESHED	"refreshed"

/* The policy that applies to mail for domain (ASCII, validated), after
 * RFC 8461 5.1: a cached unexpired policy is used while the TXT id is
 * unchanged; a new id or an expired policy is fetched again; when that
 * fails the unexpired cached policy still applies.  An unexpired policy
 * that is due (MTASTS_REFRESH_SEC) is fetched again whatever the TXT
 * record says, so that mail keeps flowing to the domain keeps its
 * policy from expiring while someone blocks the fetches; a failed
 * refresh is remembered in the cache file's modification time.  1 with *p, *src and
 * id set; 0 when no policy applies (why says why, "" when the domain
 * simply has none). */
int mtasts_lookup(struct mtasts *m, const char *domain, int64_t now,
    struct mtasts_policy *p, const char **src, char id[MTASTS_ID_MAX + 1],
    char *why, size_t whysz);
/* Fetch https://mta-sts.DOMAIN/.well-known/mta-sts.txt into body (the
 * raw policy text).  0 ok, -1 with a reason in why. */
int mtasts_fetch(struct mtasts *m, const char *domain, struct buf *body,
    char *why, size_t whysz);

const char *mtasts_mode_name(enum mtasts_mode m);

#endif

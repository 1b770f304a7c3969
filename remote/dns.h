/*
 * dns.h — MX and address lookups for posthorn-remote through glibc's
 * resolver (res_nquery; answers parsed with ns_initparse/ns_parserr, never
 * by hand).  The dns_servers override replaces the resolver state's name
 * servers (IPv4 in nsaddr_list, IPv6 through glibc's _u._ext.nsaddrs).
 * The AD bit is requested and kept (RES_TRUSTAD): as Postfix does, a
 * local validating resolver is trusted to have checked DNSSEC.
 * Answers come from the network and are hostile: names are expanded with
 * the library's bounds checks, record lengths are checked, and the number
 * of records kept is bounded.
 */
#ifndef POSTHORN_REMOTE_DNS_H
#define POSTHORN_REMOTE_DNS_H

#include <netinet/in.h>
#include <resolv.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/config.h"

#define DNS_MX_MAX	32	/* MX hosts kept per domain */
#define DNS_ADDR_MAX	16	/* addresses kept per host and family */

/* Results of lookups. */
#define DNS_OK		0	/* records found */
#define DNS_NXDOMAIN	1	/* the name does not exist (permanent) */
#define DNS_NODATA	2	/* the name exists, no record of the type */
#define DNS_TEMP	3	/* SERVFAIL, timeout, network trouble */
#define DNS_NULLMX	4	/* RFC 7505 "MX 0 ." */
#define DNS_BAD		5	/* malformed answer (treated as temporary) */

struct mx {
	char name[NS_MAXDNAME];
	unsigned pref;
};

struct mxlist {
	struct mx v[DNS_MX_MAX];
	size_t n;
	int secure;		/* the answer had the AD bit (DNSSEC) */
};

/* TLSA records (RFC 6698) for DANE (RFC 7672). */
#define DNS_TLSA_MAX	8
#define DNS_TLSA_DATA	1024	/* longest association data kept */
struct tlsa {
	unsigned char usage, selector, mtype;
	unsigned char data[DNS_TLSA_DATA];
	size_t len;
};
struct tlsalist {
	struct tlsa v[DNS_TLSA_MAX];
	size_t n;		/* usable records kept (usage 2 and 3) */
	size_t seen;		/* TLSA records in the answer */
	int secure;		/* the answer had the AD bit */
};

#define DNS_CNAME_MAX	8	/* CNAME records followed in one answer */

struct addrlist {
	struct sockaddr_storage v[2 * DNS_ADDR_MAX];
	size_t n;
	int secure;		/* every answer that gave addresses had the
				   AD bit (RFC 7672 2.2: DANE needs them) */
	char cname[NS_MAXDNAME];	/* the host's fully CNAME-expanded
				   name, when the answers that gave
				   addresses went through CNAME records and
				   agree on where they lead; "" otherwise */
};

/* TXT records (for MTA-STS, RFC 8461 3.1): each record's strings
 * concatenated; longer records are dropped. */
#define DNS_TXT_MAX	8
#define DNS_TXT_LEN	1024
struct txtlist {
	char v[DNS_TXT_MAX][DNS_TXT_LEN + 1];
	size_t len[DNS_TXT_MAX];
	size_t n;		/* records kept */
	size_t seen;		/* TXT records in the answer */
};

struct dns {
	struct __res_state res;
	int ready;
};

/* Set up a resolver; servers (may be empty) override resolv.conf.
 * timeout_s bounds each try.  0 ok, -1 with err. */
int dns_open(struct dns *d, const struct strlist *servers, int timeout_s,
    struct buf *err);
void dns_close(struct dns *d);

/* MX records of domain, sorted by preference, equal preferences
 * shuffled.  DNS_OK, DNS_NODATA (no MX: use the domain itself),
 * DNS_NULLMX, DNS_NXDOMAIN, DNS_TEMP or DNS_BAD. */
int dns_mx(struct dns *d, const char *domain, struct mxlist *out);
/* AAAA and A records of host (IPv6 first), port set on each.  DNS_OK
 * when at least one address was found; otherwise the more hopeful of
 * the two lookups' results (DNS_TEMP before DNS_NODATA / DNS_NXDOMAIN).
 * out->secure: every answer that contributed addresses had the AD bit;
 * out->cname: where the CNAME records of those answers lead. */
int dns_addrs(struct dns *d, const char *host, unsigned port,
    struct addrlist *out);

/* TLSA records of _port._tcp.host.  DNS_OK (records in out; out->secure
 * says whether they are authenticated), DNS_NODATA / DNS_NXDOMAIN (none),
 * DNS_TEMP or DNS_BAD. */
int dns_tlsa(struct dns *d, const char *host, unsigned port,
    struct tlsalist *out);

/* TXT records of name.  DNS_OK (out->n may still be 0 when every record
 * was too long), DNS_NODATA, DNS_NXDOMAIN, DNS_TEMP or DNS_BAD. */
int dns_txt(struct dns *d, const char *name, struct txtlist *out);

/* Answer parsers (also for tests and fuzzing).  ans[0..len) is a whole
 * DNS message.  They append what they find and return DNS_* codes. */
int dns_parse_mx(const unsigned char *ans, size_t len, struct mxlist *out);
int dns_parse_addrs(const unsigned char *ans, size_t len, int type,
    unsigned port, struct addrlist *out);
int dns_parse_tlsa(const unsigned char *ans, size_t len,
    struct tlsalist *out);
int dns_parse_txt(const unsigned char *ans, size_t len, struct txtlist *out);
/* The name the answer's records belong to: its question name followed
 * through the answer's CNAME records (RFC 1034 3.6.2), at most
 * DNS_CNAME_MAX of them.  1 with out set when a CNAME was followed, 0
 * when there is none (out: the question name), -1 for a malformed answer
 * or a chain that loops or goes on too long. */
int dns_parse_cname_target(const unsigned char *ans, size_t len,
    char out[NS_MAXDNAME]);
/* Was the answer authenticated (AD bit)?  0 for a malformed one. */
int dns_answer_secure(const unsigned char *ans, size_t len);
/* Sort by preference and shuffle equal preferences (rnd may be NULL:
 * random()). */
void dns_mx_sort(struct mxlist *l, unsigned (*rnd)(void));

/* Parse one dns_servers entry "ip", "ip:port", "[v6]:port" into ss. */
int dns_server_parse(const char *s, struct sockaddr_storage *ss);

#endif

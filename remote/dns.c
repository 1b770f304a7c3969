/*
 * dns.c — MX and address lookups through glibc's resolver (see dns.h).
 *
 * Trust: answers are hostile network input.  They are parsed only with
 * ns_initparse/ns_parserr/ns_name_uncompress, which check every offset
 * against the message end; we additionally check each record's class,
 * type and rdata length, and keep at most DNS_MX_MAX / DNS_ADDR_MAX
 * records.  The resolver's own retries and UDP->TCP fallback are used.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "remote/dns.h"

#define ANSWER_MAX 65536

static int
parse_port(const char *s, unsigned *port)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int
dns_server_parse(const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *end;
	unsigned port = 53;
	size_t n;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return -1;
		n = (size_t)(end - s - 1);
		if (end[1] == ':') {
			if (parse_port(end + 2, &port) < 0)
				return -1;
		} else if (end[1] != '\0')
			return -1;
		s++;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		n = (size_t)(colon - s);
		if (parse_port(colon + 1, &port) < 0)
			return -1;
	} else
		n = strlen(s);
	if (n == 0 || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	return -1;
}

/* Replace the resolver's servers.  IPv6 servers go where glibc's own
 * res_init puts them: a malloc'd sockaddr_in6 in _u._ext.nsaddrs[i] with
 * nsaddr_list[i].sin_family 0; res_nclose frees them. */
static int
set_servers(struct __res_state *res, const struct strlist *servers,
    struct buf *err)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *six;
	size_t i;
	int k;

	if (servers->n > MAXNS) {
		buf_printf(err, "dns_servers: at most %d servers", MAXNS);
		return -1;
	}
	for (k = 0; k < MAXNS; k++) {
		free(res->_u._ext.nsaddrs[k]);
		res->_u._ext.nsaddrs[k] = NULL;
	}
	res->_u._ext.nscount = 0;
	for (i = 0; i < servers->n; i++) {
		if (dns_server_parse(servers->v[i], &ss) < 0) {
			buf_printf(err, "dns_servers: bad server \"%s\"",
			    servers->v[i]);
			return -1;
		}
		memset(&res->nsaddr_list[i], 0, sizeof(res->nsaddr_list[i]));
		if (ss.ss_family == AF_INET) {
			memcpy(&res->nsaddr_list[i], &ss,
			    sizeof(struct sockaddr_in));
			continue;
		}
		if ((six = malloc(sizeof(*six))) == NULL) {
			buf_printf(err, "dns_servers: out of memory");
			return -1;
		}
		memcpy(six, &ss, sizeof(*six));
		res->_u._ext.nsaddrs[i] = six;
	}
	res->nscount = (int)servers->n;
	return 0;
}

int
dns_open(struct dns *d, const struct strlist *servers, int timeout_s,
    struct buf *err)
{
	memset(d, 0, sizeof(*d));
	if (res_ninit(&d->res) != 0) {
		buf_printf(err, "resolver initialisation failed");
		return -1;
	}
	d->ready = 1;
	d->res.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
	d->res.options |= RES_USE_EDNS0 | RES_TRUSTAD;
	d->res.retrans = timeout_s > 0 ? timeout_s : 5;
	d->res.retry = 2;
	if (servers != NULL && servers->n > 0 &&
	    set_servers(&d->res, servers, err) < 0) {
		dns_close(d);
		return -1;
	}
	return 0;
}

void
dns_close(struct dns *d)
{
	if (d->ready)
		res_nclose(&d->res);
	d->ready = 0;
}

/* ns_initparse plus the header's response code. */
static int
parse_header(const unsigned char *ans, size_t len, ns_msg *msg)
{
	int rcode;

	if (len > ANSWER_MAX || ns_initparse(ans, (int)len, msg) < 0)
		return DNS_BAD;
	rcode = ns_msg_getflag(*msg, ns_f_rcode);
	if (rcode == ns_r_nxdomain)
		return DNS_NXDOMAIN;
	if (rcode != ns_r_noerror)
		return DNS_TEMP;
	return DNS_OK;
}

int
dns_parse_mx(const unsigned char *ans, size_t len, struct mxlist *out)
{
	ns_msg msg;
	ns_rr rr;
	char name[NS_MAXDNAME];
	int i, count, rc, used, nullmx = 0, real = 0;
	const unsigned char *rd;

	if ((rc = parse_header(ans, len, &msg)) != DNS_OK)
		return rc;
	out->secure = ns_msg_getflag(msg, ns_f_ad);
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return DNS_BAD;
		if (ns_rr_class(rr) != ns_c_in || ns_rr_type(rr) != ns_t_mx)
			continue;
		if (ns_rr_rdlen(rr) < 3)
			return DNS_BAD;
		rd = ns_rr_rdata(rr);
		used = ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg),
		    rd + 2, name, sizeof(name));
		if (used < 0 || (size_t)used != ns_rr_rdlen(rr) - 2u)
			return DNS_BAD;
		if (name[0] == '\0' || strcmp(name, ".") == 0) {
			nullmx++;
			continue;
		}
		real++;
		if (out->n >= DNS_MX_MAX) {
			/* full: keep the DNS_MX_MAX best, whatever order the
			 * answer came in (a better MX, or our own name, may
			 * come after many worse ones) */
			size_t worst = 0;

			for (size_t k = 1; k < out->n; k++)
				if (out->v[k].pref > out->v[worst].pref)
					worst = k;
			if (ns_get16(rd) >= out->v[worst].pref)
				continue;
			memcpy(out->v[worst].name, name, sizeof(name));
			out->v[worst].pref = ns_get16(rd);
			continue;
		}
		memcpy(out->v[out->n].name, name, sizeof(name));
		out->v[out->n].pref = ns_get16(rd);
		out->n++;
	}
	if (real > 0)
		return DNS_OK;
	return nullmx > 0 ? DNS_NULLMX : DNS_NODATA;
}

int
dns_parse_addrs(const unsigned char *ans, size_t len, int type,
    unsigned port, struct addrlist *out)
{
	ns_msg msg;
	ns_rr rr;
	int i, count, rc, found = 0;
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;

	if ((rc = parse_header(ans, len, &msg)) != DNS_OK)
		return rc;
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return DNS_BAD;
		if (ns_rr_class(rr) != ns_c_in || (int)ns_rr_type(rr) != type)
			continue;
		if (found >= DNS_ADDR_MAX ||
		    out->n >= sizeof(out->v) / sizeof(out->v[0]))
			continue;
		memset(&out->v[out->n], 0, sizeof(out->v[0]));
		if (type == ns_t_a) {
			if (ns_rr_rdlen(rr) != 4)
				return DNS_BAD;
			sin = (struct sockaddr_in *)&out->v[out->n];
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
			memcpy(&sin->sin_addr, ns_rr_rdata(rr), 4);
		} else if (type == ns_t_aaaa) {
			if (ns_rr_rdlen(rr) != 16)
				return DNS_BAD;
			sin6 = (struct sockaddr_in6 *)&out->v[out->n];
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			memcpy(&sin6->sin6_addr, ns_rr_rdata(rr), 16);
		} else
			return DNS_BAD;
		out->n++;
		found++;
	}
	return found > 0 ? DNS_OK : DNS_NODATA;
}

int
dns_parse_tlsa(const unsigned char *ans, size_t len, struct tlsalist *out)
{
	ns_msg msg;
	ns_rr rr;
	int i, count, rc;
	const unsigned char *rd;
	struct tlsa *t;
	size_t n;

	if ((rc = parse_header(ans, len, &msg)) != DNS_OK)
		return rc;
	out->secure = ns_msg_getflag(msg, ns_f_ad);
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return DNS_BAD;
		if (ns_rr_class(rr) != ns_c_in || ns_rr_type(rr) != ns_t_tlsa)
			continue;
		if (ns_rr_rdlen(rr) < 4)
			return DNS_BAD;
		out->seen++;
		rd = ns_rr_rdata(rr);
		n = ns_rr_rdlen(rr) - 3u;
		/* RFC 7672 3.1.3: only DANE-TA(2) and DANE-EE(3) */
		if ((rd[0] != 2 && rd[0] != 3) || rd[1] > 1 || rd[2] > 2 ||
		    n > DNS_TLSA_DATA || out->n >= DNS_TLSA_MAX)
			continue;
		t = &out->v[out->n++];
		t->usage = rd[0];
		t->selector = rd[1];
		t->mtype = rd[2];
		memcpy(t->data, rd + 3, n);
		t->len = n;
	}
	return out->seen > 0 ? DNS_OK : DNS_NODATA;
}

int
dns_parse_txt(const unsigned char *ans, size_t len, struct txtlist *out)
{
	ns_msg msg;
	ns_rr rr;
	int i, count, rc;
	const unsigned char *rd;
	size_t rdlen, off, sl, total;
	char *dst;

	if ((rc = parse_header(ans, len, &msg)) != DNS_OK)
		return rc;
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return DNS_BAD;
		if (ns_rr_class(rr) != ns_c_in || ns_rr_type(rr) != ns_t_txt)
			continue;
		out->seen++;
		if (out->n >= DNS_TXT_MAX)
			continue;
		rd = ns_rr_rdata(rr);
		rdlen = ns_rr_rdlen(rr);
		dst = out->v[out->n];
		/* <character-string>s: a length octet and that many octets */
		for (off = 0, total = 0; off < rdlen; off += 1 + sl) {
			sl = rd[off];
			if (sl > rdlen - off - 1)
				return DNS_BAD;
			if (total + sl > DNS_TXT_LEN) {
				total = DNS_TXT_LEN + 1;
				break;
			}
			memcpy(dst + total, rd + off + 1, sl);
			total += sl;
		}
		if (total > DNS_TXT_LEN)
			continue;	/* too long to be anything we use */
		dst[total] = '\0';
		out->len[out->n++] = total;
	}
	return out->seen > 0 ? DNS_OK : DNS_NODATA;
}

int
dns_parse_cname_target(const unsigned char *ans, size_t len,
    char out[NS_MAXDNAME])
{
	ns_msg msg;
	ns_rr rr;
	char next[NS_MAXDNAME];
	int i, count, used, steps, found;

	out[0] = '\0';
	if (len > ANSWER_MAX || ns_initparse(ans, (int)len, &msg) < 0 ||
	    ns_msg_count(msg, ns_s_qd) != 1 ||
	    ns_parserr(&msg, ns_s_qd, 0, &rr) < 0)
		return -1;
	/* ns_rr_name() is "." (a literal) for the root */
	snprintf(out, NS_MAXDNAME, "%s", ns_rr_name(rr));
	count = ns_msg_count(msg, ns_s_an);
	for (steps = 0;; steps++) {
		found = 0;
		for (i = 0; i < count && !found; i++) {
			if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
				return -1;
			if (ns_rr_class(rr) != ns_c_in ||
			    ns_rr_type(rr) != ns_t_cname ||
			    strcasecmp(ns_rr_name(rr), out) != 0)
				continue;
			used = ns_name_uncompress(ns_msg_base(msg),
			    ns_msg_end(msg), ns_rr_rdata(rr), next,
			    sizeof(next));
			if (used < 0 || (size_t)used != ns_rr_rdlen(rr) ||
			    next[0] == '\0')
				return -1;
			found = 1;
		}
		if (!found)
			return steps > 0;
		/* a loop comes back here until the limit */
		if (steps == DNS_CNAME_MAX)
			return -1;
		memcpy(out, next, sizeof(next));
	}
}

int
dns_answer_secure(const unsigned char *ans, size_t len)
{
	ns_msg msg;

	if (len > ANSWER_MAX || ns_initparse(ans, (int)len, &msg) < 0)
		return 0;
	return ns_msg_getflag(msg, ns_f_ad) != 0;
}

static unsigned
default_rnd(void)
{
	return arc4random();
}

void
dns_mx_sort(struct mxlist *l, unsigned (*rnd)(void))
{
	size_t i, j, start, end;
	struct mx tmp;

	if (rnd == NULL)
		rnd = default_rnd;
	/* insertion sort by preference (n <= DNS_MX_MAX), stable */
	for (i = 1; i < l->n; i++) {
		tmp = l->v[i];
		for (j = i; j > 0 && l->v[j - 1].pref > tmp.pref; j--)
			l->v[j] = l->v[j - 1];
		l->v[j] = tmp;
	}
	/* Fisher-Yates inside each run of equal preference */
	for (start = 0; start < l->n; start = end) {
		for (end = start + 1; end < l->n &&
		    l->v[end].pref == l->v[start].pref; end++)
			;
		for (i = end - 1; i > start; i--) {
			j = start + rnd() % (i - start + 1);
			tmp = l->v[i];
			l->v[i] = l->v[j];
			l->v[j] = tmp;
		}
	}
}

/* One query; the answer buffer is static-sized and the length clamped. */
static int
query(struct dns *d, const char *name, int type, unsigned char *ans,
    size_t *len)
{
	int n;

	n = res_nquery(&d->res, name, ns_c_in, type, ans, ANSWER_MAX);
	if (n < 0) {
		switch (d->res.res_h_errno) {
		case HOST_NOT_FOUND:
			return DNS_NXDOMAIN;
		case NO_DATA:
			return DNS_NODATA;
		default:
			return DNS_TEMP;
		}
	}
	*len = (size_t)n > ANSWER_MAX ? ANSWER_MAX : (size_t)n;
	return DNS_OK;
}

int
dns_mx(struct dns *d, const char *domain, struct mxlist *out)
{
	unsigned char *ans;
	size_t len = 0;
	int rc;

	out->n = 0;
	out->secure = 0;
	if ((ans = malloc(ANSWER_MAX)) == NULL)
		return DNS_TEMP;
	rc = query(d, domain, ns_t_mx, ans, &len);
	if (rc == DNS_OK)
		rc = dns_parse_mx(ans, len, out);
	free(ans);
	if (rc == DNS_OK)
		dns_mx_sort(out, NULL);
	return rc;
}

int
dns_tlsa(struct dns *d, const char *host, unsigned port,
    struct tlsalist *out)
{
	unsigned char *ans;
	char name[NS_MAXDNAME + 16];
	size_t len = 0;
	int rc;

	out->n = out->seen = 0;
	out->secure = 0;
	if ((size_t)snprintf(name, sizeof(name), "_%u._tcp.%s", port, host) >=
	    sizeof(name))
		return DNS_BAD;
	if ((ans = malloc(ANSWER_MAX)) == NULL)
		return DNS_TEMP;
	rc = query(d, name, ns_t_tlsa, ans, &len);
	if (rc == DNS_OK)
		rc = dns_parse_tlsa(ans, len, out);
	free(ans);
	return rc;
}

int
dns_txt(struct dns *d, const char *name, struct txtlist *out)
{
	unsigned char *ans;
	size_t len = 0;
	int rc;

	out->n = out->seen = 0;
	if ((ans = malloc(ANSWER_MAX)) == NULL)
		return DNS_TEMP;
	rc = query(d, name, ns_t_txt, ans, &len);
	if (rc == DNS_OK)
		rc = dns_parse_txt(ans, len, out);
	free(ans);
	return rc;
}

/* Where the CNAME records of an answer that gave addresses lead, into
 * out->cname (first: the first such answer).  The AAAA and the A answer
 * must agree: -1 when they do not, or when the chain is malformed. */
static int
merge_cname(struct addrlist *out, const unsigned char *ans, size_t len,
    int first)
{
	char target[NS_MAXDNAME];
	int expanded;

	expanded = dns_parse_cname_target(ans, len, target);
	if (expanded < 0)
		return -1;
	if (first) {
		if (expanded)
			memcpy(out->cname, target, sizeof(target));
		return 0;
	}
	if (!expanded)
		return out->cname[0] == '\0' ? 0 : -1;
	return strcasecmp(target, out->cname) == 0 ? 0 : -1;
}

int
dns_addrs(struct dns *d, const char *host, unsigned port,
    struct addrlist *out)
{
	static const int types[2] = { ns_t_aaaa, ns_t_a };
	unsigned char *ans;
	size_t len = 0, before;
	int rc, k, worst = DNS_NXDOMAIN, insecure = 0, answers = 0;
	int cname_ok = 1;

	out->n = 0;
	out->secure = 0;
	out->cname[0] = '\0';
	if ((ans = malloc(ANSWER_MAX)) == NULL)
		return DNS_TEMP;
	for (k = 0; k < 2; k++) {
		before = out->n;
		rc = query(d, host, types[k], ans, &len);
		if (rc == DNS_OK)
			rc = dns_parse_addrs(ans, len, types[k], port, out);
		if (out->n > before) {
			/* RFC 7672 2.2: the address records DANE relies on
			 * must be authenticated, every RRset that gave an
			 * address */
			if (!dns_answer_secure(ans, len))
				insecure = 1;
			/* RFC 7672 2.2.2: and an alias's TLSA records may be
			 * at the name it leads to */
			if (merge_cname(out, ans, len, answers++ == 0) < 0)
				cname_ok = 0;
		}
		if (rc == DNS_TEMP || rc == DNS_BAD)
			worst = DNS_TEMP;
		else if (rc == DNS_NODATA && worst == DNS_NXDOMAIN)
			worst = DNS_NODATA;
	}
	free(ans);
	out->secure = out->n > 0 && !insecure;
	if (!cname_ok || strcasecmp(out->cname, host) == 0)
		out->cname[0] = '\0';
	return out->n > 0 ? DNS_OK : worst;
}

/*
 * test_remote_dns.c — DNS answer handling of posthorn-remote (remote/dns.c):
 * MX parsing, preference order and shuffling, null MX, rcodes, malformed
 * answers, address records, the CNAME chain of an address answer, TXT
 * records, and the dns_servers override.
 * Answers are built here with dn_comp (the code under test only parses
 * them through ns_initparse/ns_parserr).
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <check.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/dns.h"

struct pkt {
	unsigned char b[1024];
	size_t len;
	const unsigned char *dnptrs[32];
	int ancount;
};

static void
put16(struct pkt *p, unsigned v)
{
	ns_put16(v, p->b + p->len);
	p->len += 2;
}

static void
put32(struct pkt *p, unsigned long v)
{
	ns_put32(v, p->b + p->len);
	p->len += 4;
}

static void
name(struct pkt *p, const char *n)
{
	int r = dn_comp(n, p->b + p->len, (int)(sizeof(p->b) - p->len),
	    (unsigned char **)p->dnptrs, (unsigned char **)p->dnptrs + 31);

	ck_assert_int_gt(r, 0);
	p->len += (size_t)r;
}

static void
start(struct pkt *p, int rcode, const char *qname, unsigned qtype)
{
	memset(p, 0, sizeof(*p));
	p->dnptrs[0] = p->b;
	put16(p, 0x1234);			/* id */
	put16(p, 0x8180 | (unsigned)rcode);	/* QR RD RA, rcode */
	put16(p, 1);				/* qdcount */
	put16(p, 0);				/* ancount (set in done) */
	put16(p, 0);
	put16(p, 0);
	name(p, qname);
	put16(p, qtype);
	put16(p, ns_c_in);
}

static void
rr_head(struct pkt *p, const char *owner, unsigned type, unsigned rdlen)
{
	name(p, owner);
	put16(p, type);
	put16(p, ns_c_in);
	put32(p, 300);
	put16(p, rdlen);
	p->ancount++;
}

/* Returns the offset of the record's rdlength field. */
static size_t
mx(struct pkt *p, const char *owner, unsigned pref, const char *host)
{
	size_t at;

	rr_head(p, owner, ns_t_mx, 0);
	at = p->len - 2;
	put16(p, pref);
	name(p, host);
	ns_put16((unsigned)(p->len - at - 2), p->b + at);
	return at;
}

/* Returns the offset of the record's rdlength field. */
static size_t
cname(struct pkt *p, const char *owner, const char *target)
{
	size_t at;

	rr_head(p, owner, ns_t_cname, 0);
	at = p->len - 2;
	name(p, target);
	ns_put16((unsigned)(p->len - at - 2), p->b + at);
	return at;
}

static void
a_rr(struct pkt *p, const char *owner)
{
	rr_head(p, owner, ns_t_a, 4);
	p->b[p->len++] = 192;
	p->b[p->len++] = 0;
	p->b[p->len++] = 2;
	p->b[p->len++] = 1;
}

static void
done(struct pkt *p)
{
	ns_put16((unsigned)p->ancount, p->b + 6);
}

static unsigned
zero_rnd(void)
{
	return 0;
}

START_TEST(mx_sorted)
{
	struct pkt p;
	struct mxlist l = { .n = 0 };

	start(&p, ns_r_noerror, "example.test", ns_t_mx);
	mx(&p, "example.test", 20, "mx2.example.test");
	mx(&p, "example.test", 10, "mx1.example.test");
	mx(&p, "example.test", 30, "mx3.other.test");
	done(&p);
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_OK);
	ck_assert_uint_eq(l.n, 3);
	dns_mx_sort(&l, NULL);
	ck_assert_str_eq(l.v[0].name, "mx1.example.test");
	ck_assert_uint_eq(l.v[0].pref, 10);
	ck_assert_str_eq(l.v[1].name, "mx2.example.test");
	ck_assert_str_eq(l.v[2].name, "mx3.other.test");
}
END_TEST

START_TEST(mx_equal_shuffled)
{
	struct pkt p;
	struct mxlist l;
	int i, first_a = 0, first_b = 0;

	start(&p, ns_r_noerror, "example.test", ns_t_mx);
	mx(&p, "example.test", 10, "a.example.test");
	mx(&p, "example.test", 10, "b.example.test");
	mx(&p, "example.test", 5, "top.example.test");
	done(&p);
	for (i = 0; i < 200; i++) {
		l.n = 0;
		ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_OK);
		dns_mx_sort(&l, NULL);
		ck_assert_str_eq(l.v[0].name, "top.example.test");
		if (strcmp(l.v[1].name, "a.example.test") == 0)
			first_a++;
		else
			first_b++;
	}
	/* both orders occur (probability of failing: 2 * 2^-200) */
	ck_assert_int_gt(first_a, 0);
	ck_assert_int_gt(first_b, 0);
	/* a fixed generator gives a fixed, preference-respecting order */
	l.n = 0;
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_OK);
	dns_mx_sort(&l, zero_rnd);
	ck_assert_str_eq(l.v[0].name, "top.example.test");
	ck_assert_str_eq(l.v[1].name, "b.example.test");
	ck_assert_str_eq(l.v[2].name, "a.example.test");
}
END_TEST

START_TEST(null_mx)
{
	struct pkt p;
	struct mxlist l = { .n = 0 };

	start(&p, ns_r_noerror, "nullmx.test", ns_t_mx);
	mx(&p, "nullmx.test", 0, ".");
	done(&p);
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_NULLMX);
	ck_assert_uint_eq(l.n, 0);
	/* a "." among real MX records is ignored */
	start(&p, ns_r_noerror, "mixed.test", ns_t_mx);
	mx(&p, "mixed.test", 0, ".");
	mx(&p, "mixed.test", 10, "mx.mixed.test");
	done(&p);
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_OK);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.v[0].name, "mx.mixed.test");
}
END_TEST

START_TEST(rcodes)
{
	struct pkt p;
	struct mxlist l = { .n = 0 };
	struct addrlist al = { .n = 0 };

	start(&p, ns_r_nxdomain, "nx.test", ns_t_mx);
	done(&p);
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_NXDOMAIN);
	start(&p, ns_r_servfail, "sf.test", ns_t_mx);
	done(&p);
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_TEMP);
	ck_assert_int_eq(dns_parse_addrs(p.b, p.len, ns_t_a, 25, &al),
	    DNS_TEMP);
	start(&p, ns_r_refused, "rf.test", ns_t_mx);
	done(&p);
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_TEMP);
	start(&p, ns_r_noerror, "empty.test", ns_t_mx);
	done(&p);
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_NODATA);
	ck_assert_uint_eq(l.n, 0);
}
END_TEST

START_TEST(malformed)
{
	struct pkt p;
	struct mxlist l = { .n = 0 };
	size_t cut, at;

	start(&p, ns_r_noerror, "example.test", ns_t_mx);
	at = mx(&p, "example.test", 10, "mx.example.test");
	done(&p);
	/* every truncation is refused, never read past */
	for (cut = 0; cut < p.len; cut++) {
		l.n = 0;
		ck_assert_int_eq(dns_parse_mx(p.b, cut, &l), DNS_BAD);
	}
	/* rdlength longer than the name inside it */
	ck_assert_uint_eq(ns_get16(p.b + at), p.len - at - 2);
	ns_put16(ns_get16(p.b + at) + 1, p.b + at);
	p.b[p.len++] = 0;
	l.n = 0;
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_BAD);
	/* MX rdata too short */
	start(&p, ns_r_noerror, "example.test", ns_t_mx);
	rr_head(&p, "example.test", ns_t_mx, 2);
	put16(&p, 10);
	done(&p);
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_BAD);
	/* a compression loop in the MX target */
	start(&p, ns_r_noerror, "example.test", ns_t_mx);
	rr_head(&p, "example.test", ns_t_mx, 4);
	put16(&p, 10);
	put16(&p, 0xc000 | (unsigned)p.len);	/* points at itself */
	done(&p);
	ck_assert_int_eq(dns_parse_mx(p.b, p.len, &l), DNS_BAD);
}
END_TEST

START_TEST(addresses)
{
	struct pkt p;
	struct addrlist al = { .n = 0 };
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	unsigned char v6[16];
	char txt[64];

	start(&p, ns_r_noerror, "mx.test", ns_t_a);
	rr_head(&p, "mx.test", ns_t_a, 4);
	p.b[p.len++] = 127;
	p.b[p.len++] = 0;
	p.b[p.len++] = 0;
	p.b[p.len++] = 2;
	rr_head(&p, "mx.test", ns_t_aaaa, 16);	/* wrong type: ignored */
	memset(p.b + p.len, 0, 16);
	p.len += 16;
	done(&p);
	ck_assert_int_eq(dns_parse_addrs(p.b, p.len, ns_t_a, 2525, &al),
	    DNS_OK);
	ck_assert_uint_eq(al.n, 1);
	sin = (const struct sockaddr_in *)&al.v[0];
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin->sin_port), 2525);
	inet_ntop(AF_INET, &sin->sin_addr, txt, sizeof(txt));
	ck_assert_str_eq(txt, "127.0.0.2");

	start(&p, ns_r_noerror, "mx.test", ns_t_aaaa);
	rr_head(&p, "mx.test", ns_t_aaaa, 16);
	inet_pton(AF_INET6, "::1", v6);
	memcpy(p.b + p.len, v6, 16);
	p.len += 16;
	done(&p);
	ck_assert_int_eq(dns_parse_addrs(p.b, p.len, ns_t_aaaa, 25, &al),
	    DNS_OK);
	ck_assert_uint_eq(al.n, 2);
	sin6 = (const struct sockaddr_in6 *)&al.v[1];
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_mem_eq(&sin6->sin6_addr, v6, 16);

	/* an A record with 5 octets is malformed */
	start(&p, ns_r_noerror, "mx.test", ns_t_a);
	rr_head(&p, "mx.test", ns_t_a, 5);
	memset(p.b + p.len, 1, 5);
	p.len += 5;
	done(&p);
	al.n = 0;
	ck_assert_int_eq(dns_parse_addrs(p.b, p.len, ns_t_a, 25, &al),
	    DNS_BAD);
}
END_TEST

/* RFC 7672 2.2.2: where an alias leads (the A/AAAA answer's CNAMEs) */
START_TEST(cname_target)
{
	struct pkt p;
	struct addrlist al = { .n = 0 };
	char out[NS_MAXDNAME], a[32], b[32];
	size_t at;
	int i;

	/* no CNAME: the question name */
	start(&p, ns_r_noerror, "mx.a.test", ns_t_a);
	a_rr(&p, "mx.a.test");
	done(&p);
	ck_assert_int_eq(dns_parse_cname_target(p.b, p.len, out), 0);
	ck_assert_str_eq(out, "mx.a.test");

	/* a chain of two, owner names in any case; the addresses are the
	 * chain's */
	start(&p, ns_r_noerror, "mx.a.test", ns_t_a);
	cname(&p, "MX.A.test", "h1.b.test");
	cname(&p, "h1.b.test", "h2.c.test");
	a_rr(&p, "h2.c.test");
	done(&p);
	ck_assert_int_eq(dns_parse_cname_target(p.b, p.len, out), 1);
	ck_assert_str_eq(out, "h2.c.test");
	ck_assert_int_eq(dns_parse_addrs(p.b, p.len, ns_t_a, 25, &al),
	    DNS_OK);
	ck_assert_uint_eq(al.n, 1);

	/* the records in any order */
	start(&p, ns_r_noerror, "mx.a.test", ns_t_a);
	a_rr(&p, "h2.c.test");
	cname(&p, "h1.b.test", "h2.c.test");
	cname(&p, "mx.a.test", "h1.b.test");
	done(&p);
	ck_assert_int_eq(dns_parse_cname_target(p.b, p.len, out), 1);
	ck_assert_str_eq(out, "h2.c.test");

	/* a CNAME of another name is not the question's */
	start(&p, ns_r_noerror, "mx.a.test", ns_t_a);
	cname(&p, "other.a.test", "h1.b.test");
	a_rr(&p, "mx.a.test");
	done(&p);
	ck_assert_int_eq(dns_parse_cname_target(p.b, p.len, out), 0);
	ck_assert_str_eq(out, "mx.a.test");

	/* a loop */
	start(&p, ns_r_noerror, "mx.a.test", ns_t_a);
	cname(&p, "mx.a.test", "h1.b.test");
	cname(&p, "h1.b.test", "mx.a.test");
	done(&p);
	ck_assert_int_eq(dns_parse_cname_target(p.b, p.len, out), -1);

	/* DNS_CNAME_MAX links are followed, one more is too many */
	start(&p, ns_r_noerror, "c0.test", ns_t_a);
	for (i = 0; i < DNS_CNAME_MAX; i++) {
		snprintf(a, sizeof(a), "c%d.test", i);
		snprintf(b, sizeof(b), "c%d.test", i + 1);
		cname(&p, a, b);
	}
	done(&p);
	ck_assert_int_eq(dns_parse_cname_target(p.b, p.len, out), 1);
	snprintf(a, sizeof(a), "c%d.test", DNS_CNAME_MAX);
	ck_assert_str_eq(out, a);
	snprintf(b, sizeof(b), "c%d.test", DNS_CNAME_MAX + 1);
	cname(&p, a, b);
	done(&p);
	ck_assert_int_eq(dns_parse_cname_target(p.b, p.len, out), -1);

	/* a CNAME whose target overruns its rdlength */
	start(&p, ns_r_noerror, "mx.a.test", ns_t_a);
	at = cname(&p, "mx.a.test", "h1.b.test");
	ns_put16(3, p.b + at);
	done(&p);
	ck_assert_int_eq(dns_parse_cname_target(p.b, p.len, out), -1);

	/* the root as the question name */
	start(&p, ns_r_noerror, ".", ns_t_a);
	done(&p);
	ck_assert_int_eq(dns_parse_cname_target(p.b, p.len, out), 0);
	ck_assert_str_eq(out, ".");

	/* no question */
	start(&p, ns_r_noerror, "mx.a.test", ns_t_a);
	ns_put16(0, p.b + 4);
	ck_assert_int_eq(dns_parse_cname_target(p.b, p.len, out), -1);
}
END_TEST

START_TEST(address_limit)
{
	struct pkt p;
	struct addrlist al = { .n = 0 };
	int i;

	start(&p, ns_r_noerror, "many.test", ns_t_a);
	for (i = 0; i < 40; i++) {
		rr_head(&p, "many.test", ns_t_a, 4);
		p.b[p.len++] = 10;
		p.b[p.len++] = 0;
		p.b[p.len++] = 0;
		p.b[p.len++] = (unsigned char)i;
	}
	done(&p);
	ck_assert_int_eq(dns_parse_addrs(p.b, p.len, ns_t_a, 25, &al),
	    DNS_OK);
	ck_assert_uint_eq(al.n, DNS_ADDR_MAX);
}
END_TEST

START_TEST(tlsa)
{
	struct pkt p;
	static struct tlsalist tl;
	unsigned char hash[32];

	memset(hash, 0xab, sizeof(hash));
	start(&p, ns_r_noerror, "_25._tcp.mx.test", ns_t_tlsa);
	rr_head(&p, "_25._tcp.mx.test", ns_t_tlsa, 35);	/* 3 1 1 */
	p.b[p.len++] = 3;
	p.b[p.len++] = 1;
	p.b[p.len++] = 1;
	memcpy(p.b + p.len, hash, 32);
	p.len += 32;
	rr_head(&p, "_25._tcp.mx.test", ns_t_tlsa, 35);	/* 1 1 1: PKIX */
	p.b[p.len++] = 1;
	p.b[p.len++] = 1;
	p.b[p.len++] = 1;
	memcpy(p.b + p.len, hash, 32);
	p.len += 32;
	done(&p);
	p.b[3] |= 0x20;		/* AD */
	tl.n = tl.seen = 0;
	ck_assert_int_eq(dns_parse_tlsa(p.b, p.len, &tl), DNS_OK);
	ck_assert_uint_eq(tl.seen, 2);
	ck_assert_uint_eq(tl.n, 1);
	ck_assert(tl.secure);
	ck_assert_uint_eq(tl.v[0].usage, 3);
	ck_assert_uint_eq(tl.v[0].len, 32);
	ck_assert_mem_eq(tl.v[0].data, hash, 32);
	p.b[3] &= (unsigned char)~0x20;
	tl.n = tl.seen = 0;
	ck_assert_int_eq(dns_parse_tlsa(p.b, p.len, &tl), DNS_OK);
	ck_assert(!tl.secure);
	/* rdata shorter than usage/selector/type plus one octet */
	start(&p, ns_r_noerror, "_25._tcp.mx.test", ns_t_tlsa);
	rr_head(&p, "_25._tcp.mx.test", ns_t_tlsa, 3);
	p.b[p.len++] = 3;
	p.b[p.len++] = 1;
	p.b[p.len++] = 1;
	done(&p);
	tl.n = tl.seen = 0;
	ck_assert_int_eq(dns_parse_tlsa(p.b, p.len, &tl), DNS_BAD);
}
END_TEST

START_TEST(server_parse)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *sin = (const void *)&ss;
	const struct sockaddr_in6 *sin6 = (const void *)&ss;

	ck_assert_int_eq(dns_server_parse("127.0.0.1", &ss), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin->sin_port), 53);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:5353", &ss), 0);
	ck_assert_uint_eq(ntohs(sin->sin_port), 5353);
	ck_assert_int_eq(dns_server_parse("::1", &ss), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 53);
	ck_assert_int_eq(dns_server_parse("[::1]:5300", &ss), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 5300);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:0", &ss), -1);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:65536", &ss), -1);
	ck_assert_int_eq(dns_server_parse("127.0.0.1:", &ss), -1);
	ck_assert_int_eq(dns_server_parse("[::1]x", &ss), -1);
	ck_assert_int_eq(dns_server_parse("[::1", &ss), -1);
	ck_assert_int_eq(dns_server_parse("localhost", &ss), -1);
	ck_assert_int_eq(dns_server_parse("", &ss), -1);
}
END_TEST

START_TEST(servers_override)
{
	struct dns d;
	struct strlist l = { NULL, 0 };
	struct buf err = BUF_INIT;
	char *v[3] = { "127.0.0.1:5353", "[::1]:5354", "10.0.0.1" };

	l.v = v;
	l.n = 3;
	ck_assert_int_eq(dns_open(&d, &l, 2, &err), 0);
	ck_assert_int_eq(d.res.nscount, 3);
	ck_assert_int_eq(d.res.nsaddr_list[0].sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(d.res.nsaddr_list[0].sin_port), 5353);
	ck_assert_int_eq(d.res.nsaddr_list[1].sin_family, 0);
	ck_assert_ptr_nonnull(d.res._u._ext.nsaddrs[1]);
	ck_assert_uint_eq(ntohs(d.res._u._ext.nsaddrs[1]->sin6_port), 5354);
	ck_assert_uint_eq(ntohs(d.res.nsaddr_list[2].sin_port), 53);
	ck_assert_int_eq(d.res.retrans, 2);
	dns_close(&d);
	v[1] = "bogus";
	ck_assert_int_eq(dns_open(&d, &l, 2, &err), -1);
	ck_assert_str_eq(buf_str(&err), "dns_servers: bad server \"bogus\"");
	buf_free(&err);
}
END_TEST

/* TXT: strings of one record joined, several records kept apart,
 * a string running past its record refused. */
START_TEST(txt)
{
	struct pkt p;
	static struct txtlist tl;

	start(&p, ns_r_noerror, "_mta-sts.example.test", ns_t_txt);
	rr_head(&p, "_mta-sts.example.test", ns_t_txt, 20);
	p.b[p.len++] = 8;
	memcpy(p.b + p.len, "v=STSv1;", 8);
	p.len += 8;
	p.b[p.len++] = 9;
	memcpy(p.b + p.len, " id=abc12", 9);
	p.len += 9;
	p.b[p.len++] = 0;		/* an empty string */
	rr_head(&p, "_mta-sts.example.test", ns_t_txt, 4);
	p.b[p.len++] = 3;
	memcpy(p.b + p.len, "foo", 3);
	p.len += 3;
	done(&p);
	tl.n = tl.seen = 0;
	ck_assert_int_eq(dns_parse_txt(p.b, p.len, &tl), DNS_OK);
	ck_assert_uint_eq(tl.n, 2);
	ck_assert_str_eq(tl.v[0], "v=STSv1; id=abc12");
	ck_assert_uint_eq(tl.len[0], 17);
	ck_assert_str_eq(tl.v[1], "foo");
	ck_assert(!dns_answer_secure(p.b, p.len));
	p.b[3] |= 0x20;
	ck_assert(dns_answer_secure(p.b, p.len));
	/* a string longer than its rdata */
	start(&p, ns_r_noerror, "t.test", ns_t_txt);
	rr_head(&p, "t.test", ns_t_txt, 3);
	p.b[p.len++] = 5;
	p.b[p.len++] = 'a';
	p.b[p.len++] = 'b';
	done(&p);
	tl.n = tl.seen = 0;
	ck_assert_int_eq(dns_parse_txt(p.b, p.len, &tl), DNS_BAD);
	/* no TXT record */
	start(&p, ns_r_noerror, "t.test", ns_t_txt);
	done(&p);
	tl.n = tl.seen = 0;
	ck_assert_int_eq(dns_parse_txt(p.b, p.len, &tl), DNS_NODATA);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("remote_dns");
	TCase *t = tcase_create("dns");

	tcase_add_test(t, mx_sorted);
	tcase_add_test(t, mx_equal_shuffled);
	tcase_add_test(t, null_mx);
	tcase_add_test(t, rcodes);
	tcase_add_test(t, malformed);
	tcase_add_test(t, addresses);
	tcase_add_test(t, address_limit);
	tcase_add_test(t, cname_target);
	tcase_add_test(t, tlsa);
	tcase_add_test(t, txt);
	tcase_add_test(t, server_parse);
	tcase_add_test(t, servers_override);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

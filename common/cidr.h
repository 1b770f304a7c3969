/*
 * cidr.h — IPv4/IPv6 networks ("127.0.0.0/8", "::1/128", "10.1.2.3") and
 * matching of socket addresses against them.  IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) match IPv4 networks.  Parsing is strict: a prefix longer
 * than the family allows, host bits set beyond the prefix, or trailing
 * garbage are errors.
 */
#ifndef POSTHORN_CIDR_H
#define POSTHORN_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network byte order; 4 used for AF_INET */
	unsigned prefix;	/* 0..32 or 0..128 */
};

struct cidrlist {
	struct cidr *v;
	size_t n;
};

/* 0 ok, -1 malformed (*why set). */
int cidr_parse(const char *s, struct cidr *out, const char **why);
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);
bool cidrlist_match(const struct cidrlist *l, const struct sockaddr *sa);
int cidrlist_add(struct cidrlist *l, const struct cidr *c);
void cidrlist_free(struct cidrlist *l);
/* Parse a numeric IPv4/IPv6 address (no port) into ss; 0 ok, -1 bad. */
int ip_parse(const char *s, struct sockaddr_storage *ss);
/* Printable address of sa without port into out ("" on failure). */
void ip_format(const struct sockaddr *sa, char *out, size_t outsz);

#endif

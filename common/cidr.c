/*
 * cidr.c — IPv4/IPv6 networks and address matching (cidr.h).
 *
 * Networks come from posthorn.conf (relay_networks); addresses from
 * getpeername().  Parsing uses inet_pton(), which accepts only the strict
 * dotted-quad and RFC 4291 text forms; the prefix is 1-3 decimal digits
 * within the family's width, and a network with host bits set is refused
 * (it is almost always a typo that would widen or narrow relaying).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/cidr.h"

#define CIDR_TEXT_MAX 64

static int
addr_bytes(const char *s, int *family, unsigned char *out)
{
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

/* Are the bits of a beyond prefix all zero? */
static bool
host_bits_clear(const unsigned char *a, unsigned prefix, unsigned bits)
{
	unsigned i;

	for (i = prefix; i < bits; i++)
		if (a[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

int
cidr_parse(const char *s, struct cidr *out, const char **why)
{
	char text[CIDR_TEXT_MAX];
	const char *slash;
	unsigned bits, prefix = 0;
	size_t n, i;

	memset(out, 0, sizeof(*out));
	slash = strchr(s, '/');
	n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(text)) {
		*why = "malformed address";
		return -1;
	}
	memcpy(text, s, n);
	text[n] = '\0';
	if (addr_bytes(text, &out->family, out->addr) == -1) {
		*why = "malformed address";
		return -1;
	}
	bits = out->family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		out->prefix = bits;
		return 0;
	}
	for (i = 1; slash[i] != '\0'; i++) {
		if (slash[i] < '0' || slash[i] > '9' || i > 3) {
			*why = "malformed prefix length";
			return -1;
		}
		prefix = prefix * 10 + (unsigned)(slash[i] - '0');
	}
	if (i == 1 || prefix > bits) {
		*why = i == 1 ? "malformed prefix length" :
		    "prefix length too long for the address family";
		return -1;
	}
	if (!host_bits_clear(out->addr, prefix, bits)) {
		*why = "host bits set beyond the prefix length";
		return -1;
	}
	out->prefix = prefix;
	return 0;
}

static bool
prefix_eq(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	unsigned char mask;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0xff, 0xff };
	const struct sockaddr_in *v4;
	const struct sockaddr_in6 *v6;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		if (c->family != AF_INET)
			return false;
		v4 = (const struct sockaddr_in *)(const void *)sa;
		return prefix_eq((const unsigned char *)&v4->sin_addr,
		    c->addr, c->prefix);
	}
	if (sa->sa_family != AF_INET6)
		return false;
	v6 = (const struct sockaddr_in6 *)(const void *)sa;
	if (c->family == AF_INET6)
		return prefix_eq(v6->sin6_addr.s6_addr, c->addr, c->prefix);
	if (memcmp(v6->sin6_addr.s6_addr, mapped, sizeof(mapped)) != 0)
		return false;
	return prefix_eq(v6->sin6_addr.s6_addr + 12, c->addr, c->prefix);
}

bool
cidrlist_match(const struct cidrlist *l, const struct sockaddr *sa)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (cidr_match(&l->v[i], sa))
			return true;
	return false;
}

int
cidrlist_add(struct cidrlist *l, const struct cidr *c)
{
	struct cidr *v;
	size_t n;

	if (size_add(l->n, 1, &n) == -1) {
		errno = ENOMEM;
		return -1;
	}
	v = xrealloc_array(l->v, n, sizeof(*v));
	if (v == NULL)
		return -1;
	v[l->n] = *c;
	l->v = v;
	l->n = n;
	return 0;
}

void
cidrlist_free(struct cidrlist *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
ip_parse(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	return -1;
}

void
ip_format(const struct sockaddr *sa, char *out, size_t outsz)
{
	const void *a;
	socklen_t n = outsz > 1024 ? 1024 : (socklen_t)outsz;

	if (outsz == 0)
		return;
	out[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return;
	if (inet_ntop(sa->sa_family, a, out, n) == NULL)
		out[0] = '\0';
}

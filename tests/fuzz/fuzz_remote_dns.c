/*
 * fuzz_remote_dns.c — DNS answer handling of posthorn-remote
 * (remote/dns.c): arbitrary octets as an MX, A/AAAA (with its CNAME
 * chain), TLSA and TXT answer.
 * The parsers must never read outside the message, must keep their
 * record limits, and must return one of the DNS_* codes.
 */
#include <arpa/nameser.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mxlist mx;
	static struct addrlist al;
	static struct tlsalist tl;
	static struct txtlist tx;
	static char target[NS_MAXDNAME];
	unsigned char *copy;
	size_t i;
	int rc;

	if (size > 65536)
		return 0;
	/* an exact-size copy so ASan sees any over-read */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	mx.n = 0;
	rc = dns_parse_mx(copy, size, &mx);
	if (rc < DNS_OK || rc > DNS_BAD || mx.n > DNS_MX_MAX)
		abort();
	if (rc == DNS_OK && mx.n == 0)
		abort();
	for (i = 0; i < mx.n; i++)
		if (memchr(mx.v[i].name, '\0', sizeof(mx.v[i].name)) == NULL)
			abort();
	dns_mx_sort(&mx, NULL);
	for (i = 1; i < mx.n; i++)
		if (mx.v[i - 1].pref > mx.v[i].pref)
			abort();
	al.n = 0;
	rc = dns_parse_addrs(copy, size, ns_t_a, 25, &al);
	if (rc < DNS_OK || rc > DNS_BAD || al.n > DNS_ADDR_MAX)
		abort();
	rc = dns_parse_addrs(copy, size, ns_t_aaaa, 25, &al);
	if (rc < DNS_OK || rc > DNS_BAD || al.n > 2 * DNS_ADDR_MAX)
		abort();
	tl.n = tl.seen = 0;
	rc = dns_parse_tlsa(copy, size, &tl);
	if (rc < DNS_OK || rc > DNS_BAD || tl.n > DNS_TLSA_MAX ||
	    tl.n > tl.seen)
		abort();
	for (i = 0; i < tl.n; i++)
		if (tl.v[i].len > DNS_TLSA_DATA || tl.v[i].usage < 2)
			abort();
	tx.n = tx.seen = 0;
	rc = dns_parse_txt(copy, size, &tx);
	if (rc < DNS_OK || rc > DNS_BAD || tx.n > DNS_TXT_MAX || tx.n > tx.seen)
		abort();
	for (i = 0; i < tx.n; i++)
		if (tx.len[i] > DNS_TXT_LEN || tx.v[i][tx.len[i]] != '\0')
			abort();
	rc = dns_parse_cname_target(copy, size, target);
	if (rc < -1 || rc > 1 ||
	    memchr(target, '\0', sizeof(target)) == NULL)
		abort();
	(void)dns_answer_secure(copy, size);
	free(copy);
	return 0;
}

/*
 * fuzz_addr.c — common/addr.c on arbitrary octets.  The first octet picks
 * the flags; the rest is parsed as a path, a bare mailbox and a domain
 * from an exact-size copy (so ASan sees any over-read).  Invariants: a
 * rejection always has a reason; an accepted address formats, holds no
 * control octet (nor C1 control, line separator or bidi embedding,
 * override or isolate), is non-ASCII only under ADDR_UTF8, and parses
 * again as a mailbox to the same address.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct addr *a, unsigned flags)
{
	char out[ADDR_MAX], again[ADDR_MAX];
	struct addr b;
	const char *why = NULL;
	int n, i;

	n = addr_format(a, out, sizeof(out));
	if (n < 0)
		abort();
	for (i = 0; i < n; i++) {
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			abort();
		if ((unsigned char)out[i] >= 0x80 && !(flags & ADDR_UTF8))
			abort();
		/* no C1 control, U+2028/9 or U+202A-E, U+2066-9 */
		if (i + 1 < n && (unsigned char)out[i] == 0xc2 &&
		    (unsigned char)out[i + 1] < 0xa0)
			abort();
		if (i + 2 < n && (unsigned char)out[i] == 0xe2 &&
		    (((unsigned char)out[i + 1] == 0x80 &&
		    (unsigned char)out[i + 2] >= 0xa8 &&
		    (unsigned char)out[i + 2] <= 0xae) ||
		    ((unsigned char)out[i + 1] == 0x81 &&
		    (unsigned char)out[i + 2] >= 0xa6 &&
		    (unsigned char)out[i + 2] <= 0xa9)))
			abort();
	}
	if (a->null) {
		if (n != 0)
			abort();
		return;
	}
	if (addr_parse_mailbox(out, (size_t)n, flags | ADDR_ALLOW_NODOMAIN, &b,
	    &why) == -1)
		abort();
	if (addr_format(&b, again, sizeof(again)) != n ||
	    memcmp(out, again, (size_t)n) != 0)
		abort();
	if (addr_local_unquoted(a, again, sizeof(again)) < 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr a;
	const char *why;
	unsigned flags;
	size_t used;
	char *p;

	if (size < 1 || size > 4096)
		return 0;
	flags = data[0] & 0x07;
	size--;
	if ((p = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(p, data + 1, size);
	why = NULL;
	if (addr_parse_path(p, size, flags, &a, &used, &why) == 0) {
		if (used < 2 || used > size || p[used - 1] != '>')
			abort();
		check(&a, flags);
	} else if (why == NULL)
		abort();
	why = NULL;
	if (addr_parse_mailbox(p, size, flags, &a, &why) == 0)
		check(&a, flags);
	else if (why == NULL)
		abort();
	why = NULL;
	if (addr_domain_valid(p, size, flags, &why) == -1 && why == NULL)
		abort();
	(void)utf8_valid(p, size);
	free(p);
	return 0;
}

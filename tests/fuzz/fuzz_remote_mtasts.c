/*
 * fuzz_remote_mtasts.c — the MTA-STS parsers of posthorn-remote
 * (remote/mtasts.c) on arbitrary octets: the same input is read as a TXT
 * record, a policy, an HTTP response (and its body as a policy), a cache
 * file, and (split at the first LF) an MX pattern and a host name.  The
 * parsers must stay inside the input, keep their limits, and return
 * results that satisfy the documented invariants.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/mtasts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_id(const char *id)
{
	size_t i, n = strnlen(id, MTASTS_ID_MAX + 1);

	if (n == 0 || n > MTASTS_ID_MAX)
		abort();
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= '0' && id[i] <= '9')))
			abort();
}

static void
check_policy(const struct mtasts_policy *p)
{
	size_t i;

	if (p->nmx > MTASTS_MX_MAX || p->max_age > MTASTS_MAXAGE_MAX ||
	    (p->mode != MTASTS_NONE && p->nmx == 0))
		abort();
	for (i = 0; i < p->nmx; i++)
		if (memchr(p->mx[i], '\0', sizeof(p->mx[i])) == NULL ||
		    p->mx[i][0] == '\0')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mtasts_policy p;
	char id[MTASTS_ID_MAX + 1], *copy, *pat;
	const char *why, *body, *nl;
	size_t blen;
	int64_t t;

	if (size > MTASTS_BODY_MAX + MTASTS_HEAD_MAX)
		return 0;
	/* an exact-size copy so ASan sees any over-read */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (mtasts_txt_parse(copy, size, id, &why) == 0)
		check_id(id);
	if (mtasts_policy_parse(copy, size, &p, &why) == 0)
		check_policy(&p);
	if (mtasts_http_parse(copy, size, size % 2 == 0, &body, &blen,
	    &why) == 0) {
		if (body < copy || blen > size ||
		    (size_t)(body - copy) > size - blen ||
		    blen > MTASTS_BODY_MAX)
			abort();
		if (mtasts_policy_parse(body, blen, &p, &why) == 0)
			check_policy(&p);
	}
	if (mtasts_cache_parse(copy, size, "example.org", id, &t, &p,
	    &why) == 0) {
		check_id(id);
		check_policy(&p);
		if (t < 0)
			abort();
	}
	nl = memchr(copy, '\n', size);
	if (nl != NULL && (pat = malloc(size + 1)) != NULL) {
		memcpy(pat, copy, size);
		pat[size] = '\0';
		pat[nl - copy] = '\0';
		(void)mtasts_pattern_match(pat, pat + (nl - copy) + 1);
		free(pat);
	}
	free(copy);
	return 0;
}

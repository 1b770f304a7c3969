/*
 * fuzz_table.c — table parsing (common/table.c) on arbitrary octets: the
 * first octet picks the syntax; every entry of an accepted table must be
 * found again by lookup (case-folded too), and every value goes through
 * alias_split() (items never empty nor starting with a blank) and
 * route_parse(), plus route_lookup() for a few domains.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const doms[] = { "example.org", "a.b.example.org",
	    "x", "" };
	struct table t;
	struct buf err = BUF_INIT;
	struct route r;
	char **items;
	const char *why;
	size_t i, n;
	char *p;

	if (size < 1 || size > 65536)
		return 0;
	if ((p = malloc(size)) == NULL)
		return 0;
	memcpy(p, data + 1, size - 1);
	if (table_parse("fuzz", p, size - 1, (enum table_syntax)(data[0] % 3),
	    &t, &err) == 0) {
		for (i = 0; i < t.n; i++) {
			if (table_lookup(&t, t.v[i].key) != &t.v[i] ||
			    t.v[i].value[0] == '\0')
				abort();
			why = NULL;
			if (alias_split(t.v[i].value, &items, &n, &why) == 0) {
				for (size_t k = 0; k < n; k++)
					if (items[k][0] == '\0' ||
					    items[k][0] == ' ')
						abort();
				alias_items_free(items, n);
			} else if (why == NULL)
				abort();
			why = NULL;
			if (route_parse(t.v[i].value, &r, &why) == -1 &&
			    why == NULL)
				abort();
		}
		for (i = 0; i < sizeof(doms) / sizeof(doms[0]); i++)
			(void)route_lookup(&t, doms[i], &r, &why);
		table_free(&t);
	} else if (err.len == 0)
		abort();
	buf_free(&err);
	free(p);
	return 0;
}

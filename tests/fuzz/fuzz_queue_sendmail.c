/*
 * fuzz_queue_sendmail.c — the message side of the sendmail front end
 * (queue/sendmail_msg.c) on arbitrary octets: the input filter (fed in
 * pieces whose sizes the input picks), the header section (parsed
 * incrementally and at once, which must agree), the header section
 * written back, and each field value as an RFC 5322 address list.
 * Every address accepted must be a valid local@domain again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/buf.h"
#include "queue/sendmail_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sm_filter f;
	struct sm_headers h;
	struct sm_rcpts rc;
	struct sm_addfields af = { "user@example.org", "Fuzz \xc3\xa9 \"x\"",
	    "example.org", 0, "ID" };
	struct buf in = BUF_INIT, out = BUF_INIT;
	struct addr a;
	const char *why, *v;
	size_t i, pos, step, vlen;
	int r = 0;

	if (size < 1 || size > 65536)
		return 0;
	step = (size_t)data[0] % 7 + 1;
	sm_filter_init(&f, data[0] & 0x80);
	for (pos = 1; pos < size && r == 0; pos += step) {
		size_t n = size - pos < step ? size - pos : step;

		r = sm_filter_feed(&f, (const char *)data + pos, n, &in);
	}
	if (r == -1 || sm_filter_finish(&f, &in) == -1)
		abort();
	sm_headers_init(&h);
	sm_rcpts_init(&rc);
	if (sm_headers_parse(&h, in.data != NULL ? in.data : "", in.len,
	    true, &why) == 1) {
		if (h.body_off > in.len || sm_headers_write(&h, &af, &out) == -1)
			abort();
		for (i = 0; i < h.n; i++) {
			sm_field_value(&h, i, &v, &vlen);
			(void)sm_addrlist_parse(v, vlen, "example.org", &rc, &why);
		}
		for (i = 0; i < rc.l.n; i++)
			if (addr_parse_mailbox(rc.l.v[i], strlen(rc.l.v[i]),
			    ADDR_UTF8, &a, &why) == -1)
				abort();
	}
	sm_rcpts_free(&rc);
	sm_headers_free(&h);
	buf_free(&in);
	buf_free(&out);
	return 0;
}

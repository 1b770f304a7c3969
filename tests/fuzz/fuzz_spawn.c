/*
 * fuzz_spawn.c — the spawner protocol of common/agent.c on arbitrary
 * octets: the first octet says whether a descriptor came with the frame,
 * the rest is decoded as frames; each is checked both as a request
 * (spawn_request_decode, the spawner's side) and as an answer
 * (spawn_exit_decode, the scheduler's side).  Whatever is accepted must
 * be well-formed, and must survive being written again and re-read.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/agent.h"
#include "common/buf.h"
#include "common/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_request(char tag, const char *pl, size_t plen, int fd)
{
	struct spawn_req r, r2;
	struct buf out = BUF_INIT;
	const char *f[3], *pl2;
	char num[24];
	size_t plen2, used;
	char tag2;

	if (spawn_request_decode(tag, pl, plen, fd, &r) != 0)
		return;
	if (r.id == 0 || r.id > SPAWN_ID_MAX || r.fd != -1 ||
	    (r.kind == SPAWN_KILL) == (fd != 0) ||
	    (r.kind == SPAWN_LOCAL) != (r.rcpt[0] != '\0'))
		abort();
	/* what spawn_request_send would write for it reads back the same */
	snprintf(num, sizeof(num), "%llu", (unsigned long long)r.id);
	f[0] = num;
	f[1] = r.rcpt;
	f[2] = "mailbox";
	if (r.own_mailbox && r.kind != SPAWN_LOCAL)
		abort();
	if (frame_put_fields(&out, r.kind, f, r.kind != SPAWN_LOCAL ? 1 :
	    r.own_mailbox ? 3 : 2) == -1)
		abort();
	if (frame_decode(out.data, out.len, SPAWN_FRAME_MAX, &tag2, &pl2,
	    &plen2, &used) != FRAME_OK || spawn_request_decode(tag2, pl2,
	    plen2, fd, &r2) != 0 || r2.id != r.id || r2.kind != r.kind ||
	    r2.own_mailbox != r.own_mailbox || strcmp(r2.rcpt, r.rcpt) != 0)
		abort();
	buf_free(&out);
}

static void
check_exit(char tag, const char *pl, size_t plen)
{
	struct spawn_exit x, x2;
	struct buf out = BUF_INIT;
	const char *pl2;
	size_t plen2, used;
	char tag2;

	if (spawn_exit_decode(tag, pl, plen, &x) != 0)
		return;
	if (x.id == 0 || x.id > SPAWN_ID_MAX || x.code > 255 ||
	    (strcmp(x.how, "exit") != 0 && strcmp(x.how, "signal") != 0 &&
	    strcmp(x.how, "refused") != 0))
		abort();
	if (spawn_exit_put(&out, x.id, x.how, x.code) == -1 ||
	    frame_decode(out.data, out.len, SPAWN_FRAME_MAX, &tag2, &pl2,
	    &plen2, &used) != FRAME_OK ||
	    spawn_exit_decode(tag2, pl2, plen2, &x2) != 0 || x2.id != x.id ||
	    x2.code != x.code || strcmp(x2.how, x.how) != 0)
		abort();
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *pl;
	size_t off = 1, plen, used;
	char *p, tag;
	int fd;

	if (size < 1 || size > 65536)
		return 0;
	fd = data[0] & 1;
	if ((p = malloc(size)) == NULL)
		return 0;
	memcpy(p, data, size);
	while (off < size && frame_decode(p + off, size - off,
	    SPAWN_FRAME_MAX, &tag, &pl, &plen, &used) == FRAME_OK) {
		check_request(tag, pl, plen, fd);
		check_exit(tag, pl, plen);
		off += used;
	}
	free(p);
	return 0;
}

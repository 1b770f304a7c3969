/*
 * fuzz_queue_qfile.c — libFuzzer target for the queue file parser
 * (queue/spool.c spool_qfile_decode and spool_qfile_read): the input's
 * first 20 octets are the queue id (the file name), the rest the file.
 * Any input is refused with a reason, reported unfinished, or decodes
 * into a record whose size is where the footer points; reading the same
 * octets from a file gives the same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/qid.h"
#include "queue/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_rec r, r2;
	const char *why = NULL, *why2 = NULL;
	char qid[QID_LEN + 1];
	int rc, rc2, fd;

	if (size < QID_LEN)
		return 0;
	memcpy(qid, data, QID_LEN);
	qid[QID_LEN] = '\0';
	data += QID_LEN;
	size -= QID_LEN;
	spool_rec_init(&r);
	rc = spool_qfile_decode((const char *)data, size, qid, &r, &why);
	if (rc == -1 && why == NULL)
		abort();
	if (rc != 0 && rc != -1 && rc != SPOOL_INCOMPLETE)
		abort();
	if (rc == 0 && (strcmp(r.env.qid, qid) != 0 ||
	    r.env.size + SPOOL_FOOTER_LEN > size))
		abort();
	fd = memfd_create("qfile", MFD_CLOEXEC);
	if (fd != -1) {
		if (size > 0 && write(fd, data, size) != (ssize_t)size)
			abort();
		spool_rec_init(&r2);
		rc2 = spool_qfile_read(fd, qid, &r2, &why2);
		if (rc2 != rc)
			abort();
		spool_rec_free(&r2);
		close(fd);
	}
	spool_rec_free(&r);
	return 0;
}

/*
 * spool.h — the spool's envelope records and paths (queue/SPOOL.md), and
 * the scheduling arithmetic shared by posthorn-queue and posthorn-send.
 * Records are read from disk and are hostile: spool_rec_decode() checks
 * everything and never trusts a length it did not verify.
 */
#ifndef POSTHORN_QUEUE_SPOOL_H
#define POSTHORN_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/envelope.h"

#define SPOOL_MAGIC	"posthorn-spool-1"
#define SPOOL_REC_MAX	(8u * 1024 * 1024)	/* largest record file */
#define SPOOL_ENV_MAX	(4u * 1024 * 1024)	/* largest E frame */

/* A queue file (incoming/QID, msg/QID) is the message, then its first
 * record, then this footer: the magic and the record's offset (= the
 * message size) as 16 lower-case hex digits and a newline. */
#define SPOOL_FOOTER_MAGIC	"posthorn-qf-1 "
#define SPOOL_FOOTER_LEN	(sizeof(SPOOL_FOOTER_MAGIC) - 1 + 16 + 1)

/* spool_qfile_read() results besides 0 (ok), -1 (corrupt), -2 (I/O) */
#define SPOOL_INCOMPLETE	(-3)	/* no footer: still being written */

/* owed[] octets */
#define OWED_NONE	'-'
#define OWED_FAILURE	'F'
#define OWED_SUCCESS	'S'

/* No time in a record is later than this (the end of the year 9999):
 * anything beyond is corrupt, and times in microseconds cannot overflow. */
#define SPOOL_TIME_MAX	253402300799LL

struct spool_rec {
	struct envelope env;
	int64_t next_try;	/* seconds since the epoch; 0 = due now */
	int warned;		/* delay notice queued */
	char *owed;		/* env.nrcpts octets + NUL */
};

void spool_rec_init(struct spool_rec *r);
void spool_rec_free(struct spool_rec *r);
/* Make owed[] match env.nrcpts (all OWED_NONE); for fresh envelopes. */
int spool_rec_reset_owed(struct spool_rec *r);
int spool_rec_encode(const struct spool_rec *r, struct buf *out);
/* 0 ok, -1 malformed (*why).  r must be freshly initialised. */
int spool_rec_decode(const char *p, size_t n, struct spool_rec *r,
    const char **why);
/* Read and decode a record file; also checks that its qid is qid.
 * 0 ok; -1 corrupt (*why); -2 I/O error (errno, ENOENT if missing). */
int spool_rec_load(const char *path, const char *qid, struct spool_rec *r,
    const char **why);
/* Write r to a new file tmppath and fsync it (removed on failure). */
int spool_rec_write(const char *tmppath, const struct spool_rec *r);
/* spool_rec_write, then rename to path (no directory fsync). */
int spool_rec_store(const char *tmppath, const char *path,
    const struct spool_rec *r);
/* The same for a record already encoded (p, n octets). */
int spool_rec_store_encoded(const char *tmppath, const char *path,
    const char *p, size_t n);

/* Append r and the footer to a queue file whose message (msgsize
 * octets) has been written through fd; no fsync.  0 ok, -1 errno. */
int spool_qfile_finish(int fd, uint64_t msgsize, const struct spool_rec *r);
/* The first record of the queue file image p[0..n) (the whole file).
 * 0 ok; -1 corrupt (*why); SPOOL_INCOMPLETE without a valid footer.
 * The record's size must be the footer's offset and its qid qid. */
int spool_qfile_decode(const char *p, size_t n, const char *qid,
    struct spool_rec *r, const char **why);
/* The same from an open queue file: reads only the footer and the
 * record.  0, -1, SPOOL_INCOMPLETE, or -2 (I/O error, errno). */
int spool_qfile_read(int fd, const char *qid, struct spool_rec *r,
    const char **why);
/* Open path and read its first record: SPOOL_INCOMPLETE, unread, while
 * its injector has not marked it complete (mode 0640); else as
 * spool_qfile_read(), except that a complete file without a valid footer
 * is corrupt (-1), not SPOOL_INCOMPLETE. */
int spool_qfile_load(const char *path, const char *qid, struct spool_rec *r,
    const char **why);
/* The same, keeping the file open: on 0, *fd is the open (read-only)
 * file; otherwise it is closed and *fd is -1. */
int spool_qfile_open(const char *path, const char *qid, struct spool_rec *r,
    const char **why, int *fd);
/* The current record of queued message qid: env/QID if it exists, else
 * the first record in msg/QID, else (include_incoming) in incoming/QID.
 * 0 ok, -1 corrupt (*why), -2 not found or I/O error (errno). */
int spool_state_load(const char *spool, const char *qid,
    bool include_incoming, struct spool_rec *r, const char **why);

/* "SPOOL/sub/name" into out; -1 if it does not fit. */
int spool_path(char *out, size_t outsz, const char *spool, const char *sub,
    const char *name);
/* Create tmp/ msg/ incoming/ env/ quarantine/ if missing (mode 0750). */
int spool_mkdirs(const char *spool);
/* Is the injector that created qid (pid in its last 6 hex digits) still
 * running?  Conservative: true when unsure. */
bool spool_qid_pid_alive(const char *qid);
/* The injector of an unfinished queue file holds a write lock (an OFD
 * lock: it goes when the file's last descriptor closes, with the process
 * or not) on the whole file from its creation until it is complete.
 * spool_lock_unfinished() takes it on fd (0 or -1); spool_is_locked()
 * says whether anyone holds it on path: true also when unsure (the file
 * could not be opened for a reason other than its absence). */
int spool_lock_unfinished(int fd);
bool spool_is_locked(const char *path);

/* Running as root: become the owner of the spool directory (unless it is
 * root's).  0 ok, -1 with errno. */
int spool_drop_privileges(const char *spool);

/* Retry delay after the attempts'th failed attempt (1 = first):
 * min(rmin * 2^(attempts-1), rmax), shortened by up to 10% using rnd
 * (any random number).  Never less than 1 second. */
uint64_t sched_backoff(uint64_t rmin, uint64_t rmax, uint32_t attempts,
    uint64_t rnd);

#endif

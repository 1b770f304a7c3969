/*
 * recover.c — posthorn-send's view of the spool directories: startup
 * recovery (queue/SPOOL.md "Recovery"), pickup of new mail from
 * incoming/, and quarantine of corrupt or foreign files.
 *
 * Trusts: no name or file in the spool.  Only valid queue ids are used as
 * names; everything else is moved to quarantine/ with a log line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/qid.h"
#include "queue/sched.h"

void
quarantine(struct sched *s, const char *sub, const char *name,
    const char *why)
{
	char src[4096], dst[4096], qname[300];
	int i;

	if (spool_path(src, sizeof(src), s->spool, sub, name) == -1)
		return;
	picked_drop(s, name);	/* its descriptor is of the file moved */
	for (i = 0; i < 1000; i++) {
		if (i == 0)
			snprintf(qname, sizeof(qname), "%s.%s", sub, name);
		else
			snprintf(qname, sizeof(qname), "%s.%s.%d", sub, name,
			    i);
		if (spool_path(dst, sizeof(dst), s->spool, "quarantine",
		    qname) == -1)
			return;
		if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE)
		    == 0) {
			log_msg(LOG_ERR, "quarantine", "file", src, "to", dst,
			    "reason", why, NULL);
			return;
		}
		if (errno != EEXIST)
			break;
	}
	log_msg(LOG_ERR, "quarantine", "file", src, "status", "failed",
	    "reason", strerror(errno), NULL);
}

void
quarantine_message(struct sched *s, const char *sub, const char *qid,
    const char *why)
{
	char path[4096];
	struct stat st;

	quarantine(s, sub, qid, why);
	if (spool_path(path, sizeof(path), s->spool, "msg", qid) == 0 &&
	    lstat(path, &st) == 0)
		quarantine(s, "msg", qid, "quarantined with its record");
	else if (strcmp(sub, "incoming") != 0 &&
	    spool_path(path, sizeof(path), s->spool, "incoming", qid) == 0 &&
	    lstat(path, &st) == 0)
		quarantine(s, "incoming", qid, "quarantined with its record");
}

static int
dot(const char *n)
{
	return strcmp(n, ".") == 0 || strcmp(n, "..") == 0;
}

/*
 * May the injection that made spool/SUB/NAME (queue id qid) still be
 * running?  An injector holds a lock on its file until it is complete
 * (spool_lock_unfinished): a locked file is being written, however old
 * it looks (the wall clock may have jumped, the injector may be stopped)
 * and whatever configuration each side read.  An unlocked one may be in
 * the instant between its creation and the lock, so the old rules still
 * decide: its injector's pid is in the queue id; but posthorn-queue's
 * workers live long and serve many injections, so a live pid is not
 * enough: a file not written for longer than the injector's own idle
 * limit per frame (smtp_timeout + 5 minutes, as queue/qmain.c sets it)
 * belongs to an injection that has been given up, or to a worker that
 * was killed while its pid was reused.
 */
static bool
injection_may_be_running(const struct sched *s, const char *sub,
    const char *name, const char *qid)
{
	uint64_t limit = (s->cfg.smtp_timeout > 86400 ? 86400 :
	    s->cfg.smtp_timeout) + 300 + 60;
	char path[4096];
	struct stat st;

	if (spool_path(path, sizeof(path), s->spool, sub, name) == -1 ||
	    spool_is_locked(path))
		return true;	/* being written, or cannot tell: keep it */
	if (!spool_qid_pid_alive(qid))
		return false;
	if (lstat(path, &st) == -1)
		return true;	/* cannot tell: keep it */
	return time(NULL) - st.st_mtime <= (time_t)limit;
}

static void
clean_tmp(struct sched *s)
{
	char path[4096], qid[QID_LEN + 1];
	struct dirent *d;
	DIR *dir;
	size_t n;

	if (spool_path(path, sizeof(path), s->spool, "tmp", "") == -1 ||
	    (dir = opendir(path)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (dot(d->d_name))
			continue;
		n = strlen(d->d_name);
		if (n != QID_LEN + 2 || d->d_name[QID_LEN] != '.' ||
		    (d->d_name[QID_LEN + 1] != 's' &&
		    d->d_name[QID_LEN + 1] != 'e')) {
			quarantine(s, "tmp", d->d_name, "foreign file");
			continue;
		}
		memcpy(qid, d->d_name, QID_LEN);
		qid[QID_LEN] = '\0';
		if (!qid_valid(qid)) {
			quarantine(s, "tmp", d->d_name, "foreign file");
			continue;
		}
		if (d->d_name[QID_LEN + 1] == 'e' &&
		    injection_may_be_running(s, "tmp", d->d_name, qid))
			continue;
		if (spool_path(path, sizeof(path), s->spool, "tmp",
		    d->d_name) == 0)
			(void)unlink(path);
	}
	closedir(dir);
}

static int
exists(struct sched *s, const char *sub, const char *qid)
{
	char path[4096];
	struct stat st;

	if (spool_path(path, sizeof(path), s->spool, sub, qid) == -1)
		return 1;
	return lstat(path, &st) == 0 || errno != ENOENT;
}

/*
 * The queue file a record in env/ belongs to must be complete and of the
 * record's size.  A delivery may write env/QID while the injector's fsync
 * of a new message is still running (SPOOL.md "Injection" 4-5); after a
 * power failure the record can then outlive a message that never reached
 * the disk, and was never acknowledged.  NULL, or why it is not.
 */
static const char *
queue_file_problem(struct sched *s, const char *qid,
    const struct spool_rec *rec)
{
	struct spool_rec first;
	char path[4096];
	const char *why = "";
	bool in_msg = exists(s, "msg", qid);
	int r, fd;

	if (spool_path(path, sizeof(path), s->spool, in_msg ? "msg" :
	    "incoming", qid) == -1)
		return NULL;
	spool_rec_init(&first);
	if (in_msg) {
		/* any file in msg/ is complete by its place (invariant 1),
		 * whatever its mode; its octets must still be there */
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
		    O_NONBLOCK);
		r = fd == -1 ? -2 : spool_qfile_read(fd, qid, &first, &why);
		if (fd != -1)
			close(fd);
	} else
		r = spool_qfile_load(path, qid, &first, &why);
	if (r == 0 && first.env.size != rec->env.size)
		why = "its queue file's size is not its record's", r = -1;
	spool_rec_free(&first);
	if (r == SPOOL_INCOMPLETE)
		return "its queue file is unfinished";
	if (r == -1)
		return why;
	return NULL;	/* fine, or unreadable now: the round will tell */
}

/* env/QID: a record that supersedes the first one in the queue file
 * (msg/QID, or incoming/QID in its first round).  Without a queue file it
 * is what a removal interrupted between its two unlinks left (SPOOL.md
 * "Removal"): removed. */
static void
load_env(struct sched *s, const char *qid)
{
	struct spool_rec rec;
	struct qent *e;
	char path[4096];
	const char *why = "", *bad;
	int r;

	if (!exists(s, "msg", qid) && !exists(s, "incoming", qid)) {
		if (spool_path(path, sizeof(path), s->spool, "env", qid) == 0 &&
		    unlink(path) == 0)
			log_msg(LOG_INFO, "remnant_removed", "qid", qid, NULL);
		return;
	}
	spool_rec_init(&rec);
	r = -2;
	if (spool_path(path, sizeof(path), s->spool, "env", qid) == 0)
		r = spool_rec_load(path, qid, &rec, &why);
	if (r == -1)
		quarantine_message(s, "env", qid, why);
	else if (r == 0 && (bad = queue_file_problem(s, qid, &rec)) != NULL)
		quarantine_message(s, "env", qid, bad);
	else if (r == 0 && (e = qindex_add(&s->ix, qid)) != NULL)
		(void)qindex_schedule(&s->ix, e, rec.next_try);
	spool_rec_free(&rec);
}

static void
scan_env(struct sched *s)
{
	char path[4096];
	struct dirent *d;
	DIR *dir;

	if (spool_path(path, sizeof(path), s->spool, "env", "") == -1 ||
	    (dir = opendir(path)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (dot(d->d_name))
			continue;
		if (!qid_valid(d->d_name))
			quarantine(s, "env", d->d_name, "foreign file");
		else
			load_env(s, d->d_name);
	}
	closedir(dir);
}

/* spool/SUB/QID's first record (spool_qfile_load): 0 ok; -1 corrupt
 * (*why); SPOOL_INCOMPLETE (not marked complete by its injector); -2 I/O
 * error or gone (errno). */
static int
read_qfile(struct sched *s, const char *sub, const char *qid,
    struct spool_rec *rec, const char **why)
{
	char path[4096];

	if (spool_path(path, sizeof(path), s->spool, sub, qid) == -1)
		return -2;
	return spool_qfile_load(path, qid, rec, why);
}

/* Take the complete incoming/QID into the index, due now; the file
 * stays where it is for the message's first round (SPOOL.md "Pickup").
 * While scanning, an unfinished file whose injector is gone is removed.
 * 1 picked up, 0 not. */
static int
pickup(struct sched *s, const char *qid, bool scanning)
{
	struct spool_rec rec;
	char path[4096];
	const char *why = "";
	struct qent *e;
	int r, fd;

	if (qindex_get(&s->ix, qid) != NULL) {
		/* in its first round, or (recovery) known from env/: nothing
		 * to do, unless a copy is in msg/ too (invariant 2) */
		if (scanning && exists(s, "msg", qid))
			quarantine(s, "incoming", qid,
			    "a message with this queue id is queued");
		return 0;
	}
	spool_rec_init(&rec);
	if (spool_path(path, sizeof(path), s->spool, "incoming", qid) == -1)
		return 0;
	r = spool_qfile_open(path, qid, &rec, &why, &fd);
	if (r != 0)
		spool_rec_free(&rec);
	if (r == SPOOL_INCOMPLETE) {
		struct stat st;

		/* an empty one is a worker's spare file or an injection that
		 * never got a message: nothing worth a log line */
		if (scanning && !injection_may_be_running(s, "incoming", qid,
		    qid) && spool_path(path, sizeof(path), s->spool,
		    "incoming", qid) == 0 && lstat(path, &st) == 0 &&
		    unlink(path) == 0 && st.st_size > 0)
			log_msg(LOG_INFO, "abandoned_removed", "qid", qid,
			    NULL);
		return 0;
	}
	if (r == -1) {
		quarantine(s, "incoming", qid, why);
		return 0;
	}
	if (r == -2 && errno == ELOOP) {
		/* no injector makes one: foreign, and logged once, not at
		 * every scan */
		quarantine(s, "incoming", qid, "symbolic link");
		return 0;
	}
	if (r == -2) {
		if (errno != ENOENT)
			log_msg(LOG_ERR, "pickup", "qid", qid, "reason",
			    strerror(errno), NULL);
		return 0;
	}
	e = qindex_add(&s->ix, qid);
	if (e == NULL || qindex_schedule(&s->ix, e, 0) == -1) {
		log_msg(LOG_ERR, "pickup", "qid", qid, "reason",
		    "out of memory", NULL);
		close(fd);
		spool_rec_free(&rec);
		return 0;
	}
	picked_put(s, qid, fd, &rec);	/* for its first round */
	return 1;
}

int
pickup_one(struct sched *s, const char *qid)
{
	if (!qid_valid(qid))
		return 0;
	return pickup(s, qid, false);
}

int
scan_incoming(struct sched *s)
{
	char path[4096];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	if (spool_path(path, sizeof(path), s->spool, "incoming", "") == -1 ||
	    (dir = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		if (dot(d->d_name))
			continue;
		if (!qid_valid(d->d_name)) {
			quarantine(s, "incoming", d->d_name, "foreign file");
			continue;
		}
		n += pickup(s, d->d_name, true);
	}
	closedir(dir);
	return n;
}

/* Recovery: msg/QID without env/QID holds its own (first) record. */
static void
scan_msg(struct sched *s)
{
	struct spool_rec rec;
	char path[4096];
	const char *why;
	struct dirent *d;
	struct qent *e;
	DIR *dir;
	int r;

	if (spool_path(path, sizeof(path), s->spool, "msg", "") == -1 ||
	    (dir = opendir(path)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (dot(d->d_name))
			continue;
		if (!qid_valid(d->d_name)) {
			quarantine(s, "msg", d->d_name, "foreign file");
			continue;
		}
		if (qindex_get(&s->ix, d->d_name) != NULL)
			continue;
		spool_rec_init(&rec);
		why = "";
		r = read_qfile(s, "msg", d->d_name, &rec, &why);
		if (r == 0 && (e = qindex_add(&s->ix, d->d_name)) != NULL)
			(void)qindex_schedule(&s->ix, e, rec.next_try);
		else if (r == -1 || r == SPOOL_INCOMPLETE)
			quarantine(s, "msg", d->d_name, r == -1 ? why :
			    "message without a record");
		else if (r == -2 && errno == ELOOP)
			quarantine(s, "msg", d->d_name, "symbolic link");
		else if (r == -2)
			log_msg(LOG_ERR, "spool_read", "qid", d->d_name,
			    "reason", strerror(errno), NULL);
		spool_rec_free(&rec);
	}
	closedir(dir);
}

void
sweep(struct sched *s)
{
	clean_tmp(s);
	(void)scan_incoming(s);
}

/*
 * One scheduler per spool: recovery removes the records in tmp/ as unfinished, which
 * they are only if no other scheduler is writing them, and two schedulers
 * would both deliver every queued message and send every notice.  The
 * lock is an flock(2) on the spool directory, held (close-on-exec, so no
 * agent keeps it) until the process ends, however it ends.  A scheduler
 * that was just killed may leave it for an instant to an agent it forked
 * that has not yet exec'd: wait a little before giving up.
 */
#define LOCK_WAIT_MS	3000

static int
lock_spool(struct sched *s)
{
	int fd, i;

	fd = open(s->spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	for (i = 0; flock(fd, LOCK_EX | LOCK_NB) == -1; i++) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || i >= LOCK_WAIT_MS / 100) {
			if (errno == EWOULDBLOCK) {
				log_msg(LOG_ERR, "spool_lock", "spool",
				    s->spool, "reason", "another posthorn-send "
				    "is using this spool", NULL);
				errno = EBUSY;
			}
			close(fd);
			return -1;
		}
		(void)usleep(100 * 1000);
	}
	s->lockfd = fd;
	return 0;
}

int
recover(struct sched *s)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (spool_mkdirs(s->spool) == -1 ||
	    (s->lockfd == -1 && lock_spool(s) == -1))
		return -1;
	clean_tmp(s);
	scan_env(s);
	scan_msg(s);
	(void)scan_incoming(s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	{
		struct logline l;

		log_begin(&l, LOG_INFO, "recovered");
		log_addf(&l, "messages", "%zu", s->ix.n);
		log_addf(&l, "ms", "%lld", (long long)((t1.tv_sec - t0.tv_sec) *
		    1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
		log_end(&l);
	}
	return 0;
}

/*
 * mbox.c — append one message to an mbox file.
 *
 * Locking: an fcntl() write lock on the file, then a dotlock PATH.lock
 * (created O_EXCL; one older than STALE_LOCK seconds is removed as
 * stale).  If the directory does not let us create the dotlock (EACCES,
 * e.g. a /var/mail without group write) the fcntl lock alone is used;
 * so it is when the dotlock there was made by another ordinary user
 * (foreign_lock()).  Both are retried until lock_timeout; then the delivery is deferred.
 *
 * The append is atomic in effect: the old size is noted under the lock,
 * and on any write or fsync failure the file is truncated back to it.  The
 * message is "From SENDER DATE", Return-Path, Delivered-To, the message
 * with mboxrd ">From " quoting, a final newline and a blank line.  The
 * file must be a regular file with one link, owned by our uid, and is
 * opened without following symbolic links; it is created 0600 when
 * missing (and its directory fsync'd at once).  The directories on the
 * way are resolved first (common/safepath.c): each must belong to root or
 * to us and not be writable by everyone unless sticky, so that nobody
 * else can swap them between the spawner's owner check and our open;
 * otherwise the delivery is deferred.  "/dev/null" is accepted as the
 * classic discard target.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "local/local.h"

#define STALE_LOCK	600	/* seconds */
#define RETRY_NS	100000000L	/* 100 ms between lock attempts */

static void
pause_retry(void)
{
	struct timespec ts = { 0, RETRY_NS };

	nanosleep(&ts, NULL);
}

static int
lock_fcntl(int fd, time_t deadline)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	for (;;) {
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EACCES && errno != EAGAIN && errno != EINTR)
			return -1;
		if (time(NULL) >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		pause_retry();
	}
}

/*
 * An append killed midway (SIGKILL at the agent's time limit, a crash)
 * would leave part of a message in the mbox.  So our dotlock holds the
 * size the mbox had when we locked it: "posthorn-local PID DEV INO SIZE".
 * The next delivery that finds such a dotlock whose owner is gone (it
 * holds the fcntl lock by then, so no one else is writing) truncates the
 * mbox back to that size, but only when what follows is one message of
 * ours alone: a From_ line at that offset and no other line starting
 * with "From " after it (mboxrd quoting leaves none in our message), so
 * mail another program appended after it is never cut.  The record is
 * believed only from a regular file with one link that we own (we run as
 * the mbox's owner): in a mode 1777 spool anyone can create ALICE.lock,
 * and a forged record would make us cut a message already delivered.
 */
#define DOT_TAG		"posthorn-local"
#define REPAIR_MAX	((off_t)1 << 31)	/* larger tails are left */

/* Is mbox[from, to) a From_ line (an optional blank separator line
 * before it), then no line starting "From "?  A From_ line cut short
 * counts if what there is of it is right. */
static bool
one_message_of_ours(int fd, off_t from, off_t to)
{
	static const char from_[5] = { 'F', 'r', 'o', 'm', ' ' };
	char b[65536], head[5];
	size_t hl = 0, lines = 0;
	bool first = true;
	off_t off = from;
	ssize_t n;

	if (to - from > REPAIR_MAX)
		return false;
	while (off < to) {
		n = pread(fd, b, (size_t)(to - off) < sizeof(b) ?
		    (size_t)(to - off) : sizeof(b), off);
		if (n <= 0)
			return false;
		for (ssize_t i = 0; i < n; i++) {
			if (first) {
				first = false;
				if (b[i] == '\n')
					continue;	/* the separator */
			}
			if (b[i] == '\n') {
				if (lines == 0 && (hl < sizeof(head) ||
				    memcmp(head, from_, sizeof(head)) != 0))
					return false;	/* no From_ line */
				lines++;
				hl = 0;
				continue;
			}
			if (hl < sizeof(head)) {
				head[hl++] = b[i];
				if (lines > 0 && hl == sizeof(head) &&
				    memcmp(head, from_, sizeof(head)) == 0)
					return false;	/* another message */
			}
		}
		off += n;
	}
	if (lines == 0)
		return hl > 0 && memcmp(head, from_, hl) == 0;
	return true;
}

/* The dotlock lock was found: if it is one of ours whose owner is gone,
 * undo that owner's partial append (see above) and remove the lock.
 * true when it was removed (try again at once). */
static bool
dot_repair(const char *lock, const char *path, int fd)
{
	char rec[160];
	long pid;
	unsigned long long dev, ino;
	long long size;
	struct stat st;
	ssize_t n;
	int lfd;

	lfd = open(lock, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (lfd == -1)
		return false;
	if (fstat(lfd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1 || st.st_uid != geteuid()) {
		close(lfd);
		return false;
	}
	n = read(lfd, rec, sizeof(rec) - 1);
	close(lfd);
	if (n <= 0)
		return false;
	rec[n] = '\0';
	if (sscanf(rec, DOT_TAG " %ld %llu %llu %lld", &pid, &dev, &ino,
	    &size) != 4 || pid <= 0 || size < 0)
		return false;
	/* alive, or another user's process: not ours to judge */
	if ((pid_t)pid == getpid() || kill((pid_t)pid, 0) == 0 ||
	    errno != ESRCH)
		return false;
	if (fstat(fd, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino && st.st_size > size) {
		if (one_message_of_ours(fd, (off_t)size, st.st_size) &&
		    ftruncate(fd, (off_t)size) == 0 && fsync(fd) == 0)
			log_msg(LOG_WARNING, "mbox_repaired", "mailbox", path,
			    "reason", "removed the part of a message an "
			    "interrupted delivery left", NULL);
		else
			log_msg(LOG_WARNING, "mbox_not_repaired", "mailbox",
			    path, "reason", "an interrupted delivery may have "
			    "left part of a message", NULL);
	}
	return unlink(lock) == 0;
}

/*
 * A dotlock that another ordinary user made.  We run as the mbox's owner,
 * and whoever legitimately locks that mbox runs as its owner too (a mail
 * reader, procmail, a setgid-mail dotlock helper) or as root.  Any other
 * uid could only have made it in a mode 1777 spool directory, where we
 * cannot remove it (sticky bit): waiting for it would defer the owner's
 * mail for as long as that user likes.  It is logged and passed over; the
 * fcntl lock, which we hold, still keeps writers apart.
 */
static bool
foreign_lock(const char *lock, const char *path)
{
	struct stat st;
	char uid[24];

	if (lstat(lock, &st) == -1 || st.st_uid == geteuid() ||
	    st.st_uid == 0)
		return false;
	snprintf(uid, sizeof(uid), "%lu", (unsigned long)st.st_uid);
	log_msg(LOG_WARNING, "mbox_foreign_dotlock", "mailbox", path, "lock",
	    lock, "uid", uid, "reason", "a dotlock another user made is "
	    "ignored (the fcntl lock is held)", NULL);
	return true;
}

/* 1 = dotlock held, 0 = directory does not allow one (fcntl only),
 * -1 = error / timeout.  fd: the mbox, fcntl-locked already. */
static int
lock_dot(const char *lock, const char *path, int fd, time_t deadline)
{
	struct stat st;
	char rec[160];
	int lfd, n;

	for (;;) {
		lfd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (lfd >= 0) {
			/* the size to go back to (see above); without it a
			 * killed append is merely not repaired */
			if (fstat(fd, &st) == 0) {
				n = snprintf(rec, sizeof(rec), DOT_TAG
				    " %ld %llu %llu %lld\n", (long)getpid(),
				    (unsigned long long)st.st_dev,
				    (unsigned long long)st.st_ino,
				    (long long)st.st_size);
				(void)io_write_file(lfd, rec, (size_t)n);
			}
			close(lfd);
			return 1;
		}
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			return 0;
		if (errno != EEXIST)
			return -1;
		if (dot_repair(lock, path, fd))
			continue;
		if (foreign_lock(lock, path))
			return 0;
		if (lstat(lock, &st) == 0 &&
		    time(NULL) - st.st_mtime > STALE_LOCK)
			unlink(lock);
		else if (time(NULL) >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		pause_retry();
	}
}

static int
from_line(const struct lctx *c, int needsep, struct buf *out)
{
	char date[64];
	struct tm tm;
	time_t now = time(NULL);

	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm) == 0)
		snprintf(date, sizeof(date), "Thu Jan  1 00:00:00 1970");
	buf_reset(out);
	if (needsep && buf_append_char(out, '\n') == -1)
		return -1;
	if (buf_printf(out, "From %s %s\n", c->sender[0] != '\0' ?
	    c->sender : "MAILER-DAEMON", date) == -1)
		return -1;
	return buf_printf(out, "Return-Path: <%s>\nDelivered-To: %s\n",
	    c->sender, c->rcpt);
}

/* Does the file end without a newline (and so needs one before From_)? */
static int
needs_separator(int fd, off_t size)
{
	char last;

	if (size == 0)
		return 0;
	if (pread(fd, &last, 1, size - 1) != 1)
		return 0;
	return last != '\n';
}

/* Append under the locks; 0 ok, -1 with errno (file restored). */
static int
append(const struct lctx *c, int fd)
{
	struct buf prefix = BUF_INIT;
	struct stat st;
	off_t old;
	int e;

	if (fstat(fd, &st) != 0)
		return -1;
	old = st.st_size;
	if (from_line(c, needs_separator(fd, old), &prefix) == -1) {
		buf_free(&prefix);
		errno = ENOMEM;
		return -1;
	}
	if (msg_copy(c->msgfd, c->msgsize, fd, &prefix, true) >= 0 && fsync(fd) == 0) {
		buf_free(&prefix);
		return 0;
	}
	e = errno;
	buf_free(&prefix);
	if (ftruncate(fd, old) == 0)
		fsync(fd);
	errno = e;
	return -1;
}

static int
check_file(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EFTYPE_LOCAL;
		return -1;
	}
	if (st.st_nlink != 1) {
		errno = EMLINK;
		return -1;
	}
	if (st.st_uid != geteuid()) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/*
 * Open the mbox for appending, creating it (0600) when missing.  A file
 * we create has its directory fsync'd at once, before anything is
 * written, so that a reported delivery never lives in a file whose name
 * a crash could lose.  Returns the fd or -1 (errno).
 */
static int
open_mbox(const char *path)
{
	const int fl = O_RDWR | O_APPEND | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK | O_CLOEXEC;
	int fd, tries, e;

	for (tries = 0; tries < 3; tries++) {
		fd = open(path, fl);
		if (fd >= 0 || errno != ENOENT)
			return fd;
		fd = open(path, fl | O_CREAT | O_EXCL, 0600);
		if (fd >= 0) {
			if (io_fsync_dir(path) != 0) {
				e = errno;
				close(fd);
				errno = e;
				return -1;
			}
			return fd;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/* Does path still name the file open as fd?  A mail reader that holds
 * both locks may have written a new mbox and renamed it over the old one
 * while we waited: appending to the old one would lose the message. */
static bool
still_named(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && lstat(path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_nlink == 1;
}

/*
 * An mbox we will not write: a symbolic link, a file with other names,
 * not a regular file, or another user's.  In a mode 1777 spool any local
 * user can put one there for someone who has no mbox yet, so it is not
 * the sender's fault: the delivery is deferred (and logged with the
 * reason) for the administrator to remove it, not bounced.
 */
static void
unsafe_mbox(struct lresult *r, const char *path, const char *why)
{
	res_set(r, 'T', "4.2.0", "mailbox %s: %s, not written (remove or fix "
	    "it; in a mode 1777 spool another user may have made it)", path,
	    why);
}

void
mbox_deliver(const struct lctx *c, const char *given, struct lresult *r)
{
	char lock[4200], path[4096];
	time_t deadline;
	int fd, dot, e, tries = 0;

	if (strcmp(given, "/dev/null") == 0) {
		res_set(r, 'D', "2.0.0", "discarded (/dev/null)");
		return;
	}
	/* through directories only we (and root) can change; the mbox
	 * itself is checked once open */
	if (res_safe_path(r, "mailbox", given, 0, path, sizeof(path)) != 0)
		return;
	if (snprintf(lock, sizeof(lock), "%s.lock", path) >=
	    (int)sizeof(lock)) {
		res_errno(r, ENAMETOOLONG, "mailbox", path);
		return;
	}
	deadline = time(NULL) + (time_t)c->cfg->lock_timeout;
again:
	fd = open_mbox(path);
	if (fd < 0 && (errno == ELOOP || errno == EISDIR)) {
		unsafe_mbox(r, path, errno == ELOOP ? "a symbolic link" :
		    "not a regular file");
		return;
	}
	if (fd < 0) {
		res_errno(r, errno, "mailbox", path);
		return;
	}
	if (check_file(fd) != 0) {
		e = errno;
		close(fd);
		if (e == EPERM)
			unsafe_mbox(r, path, "owned by another user");
		else if (e == EMLINK)
			unsafe_mbox(r, path, "a file with other names (hard "
			    "links)");
		else if (e == EFTYPE_LOCAL)
			unsafe_mbox(r, path, "not a regular file");
		else
			res_errno(r, e, "mailbox", path);
		return;
	}
	if (lock_fcntl(fd, deadline) != 0 ||
	    (dot = lock_dot(lock, path, fd, deadline)) < 0) {
		e = errno;
		close(fd);
		if (e == ETIMEDOUT)
			res_set(r, 'T', "4.2.0", "mailbox %s: locked by "
			    "another process (waited %llus)", path,
			    (unsigned long long)c->cfg->lock_timeout);
		else
			res_errno(r, e, "mailbox lock", lock);
		return;
	}
	if (!still_named(fd, path)) {
		if (dot == 1)
			unlink(lock);
		close(fd);
		if (++tries < 10 && time(NULL) < deadline)
			goto again;
		res_set(r, 'T', "4.2.0", "mailbox %s: replaced again and "
		    "again while being locked", path);
		return;
	}
	if (append(c, fd) != 0)
		res_errno(r, errno, "mailbox", path);
	else
		res_set(r, 'D', "2.0.0", "delivered to mailbox %s", path);
	if (dot == 1)
		unlink(lock);
	close(fd);	/* releases the fcntl lock */
}

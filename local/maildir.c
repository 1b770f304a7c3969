/*
 * maildir.c — delivery into a Maildir (https://cr.yp.to/proto/maildir.html).
 *
 * The message is written to an unnamed file in tmp/ (O_TMPFILE), fsync'd,
 * and given its only name, new/UNIQUE,S=SIZE (the ",S=" size is what
 * Dovecot reads), with linkat() through /proc/self/fd, which never
 * overwrites; then the new/ directory is fsync'd.  Where the file system
 * has no O_TMPFILE (or there is no /proc), it is written to tmp/UNIQUE
 * instead and moved with renameat2(RENAME_NOREPLACE) (or link and
 * unlink).  Only after new/ is fsync'd is the delivery reported done; a
 * reader never sees a partial message in new/, and a failure leaves
 * nothing behind.  UNIQUE is
 * "SECONDS.MmicrosecondsPpidQcounter.HOST" — unique across processes (pid),
 * time, and deliveries within one process (counter); O_EXCL guarantees we
 * never overwrite.  The Maildir and its tmp/new/cur are created (0700)
 * when tmp/ or new/ turns out to be missing (an existing Maildir costs no
 * mkdir or stat), each new directory's parent fsync'd so that a crash
 * cannot take a fresh Maildir (and the message in it) away; the parent
 * directory must exist.  The path is resolved first through directories
 * that only root and we can change (common/safepath.c), the Maildir
 * itself included; otherwise the delivery is deferred.
 *
 * Runs as the mailbox owner; paths come from the administrator's tables or
 * the user's passwd entry, never from the message.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/io.h"
#include "common/safepath.h"
#include "local/local.h"

#define NAME_TRIES 5

/* The host name with '/' and ':' encoded, as the Maildir spec asks. */
static void
maildir_host(char *out, size_t outsz)
{
	char h[256];
	size_t i, o = 0;

	if (gethostname(h, sizeof(h) - 1) != 0)
		snprintf(h, sizeof(h), "localhost");
	h[sizeof(h) - 1] = '\0';
	for (i = 0; h[i] != '\0' && o + 5 < outsz; i++) {
		if (h[i] == '/' || h[i] == ':') {
			snprintf(out + o, outsz - o, "\\%03o",
			    (unsigned char)h[i]);
			o += 4;
		} else
			out[o++] = h[i];
	}
	out[o] = '\0';
}

/* Create path when missing; a new directory's entry is made durable by
 * fsync'ing its parent (fsync'ing the new directory itself would not). */
static int
ensure_dir(const char *path)
{
	char parent[4200];
	struct stat st;

	if (mkdir(path, 0700) == 0) {
		if (snprintf(parent, sizeof(parent), "%s/..", path) >=
		    (int)sizeof(parent)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		return io_fsync_dir(parent) == 0 ? 0 : -1;
	}
	if (errno != EEXIST)
		return -1;
	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* The Maildir and its tmp/ new/ cur/, created where missing; sub is
 * scratch space (names the failing directory on error). */
static int
ensure_maildir(const char *d, char *sub, size_t subsz)
{
	static const char *const parts[] = { "", "/tmp", "/new", "/cur" };

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(sub, subsz, "%s%s", d, parts[i]);
		if (ensure_dir(sub) != 0)
			return -1;
	}
	return 0;
}

/* A new UNIQUE into name; -1 (ENAMETOOLONG) if it does not fit. */
static int
unique_name(char *name, size_t namesz)
{
	static unsigned counter;
	char host[256];
	struct timeval tv;
	int n;

	maildir_host(host, sizeof(host));
	gettimeofday(&tv, NULL);
	n = snprintf(name, namesz, "%lld.M%ldP%ldQ%u.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    ++counter, host);
	if (n < 0 || (size_t)n >= namesz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Create tmp/UNIQUE; returns the fd and fills name, or -1. */
static int
open_tmp(const char *dir, char *name, size_t namesz, char *tmp,
    size_t tmpsz)
{
	int fd, i, n;

	for (i = 0; i < NAME_TRIES; i++) {
		if (unique_name(name, namesz) == -1)
			return -1;
		n = snprintf(tmp, tmpsz, "%s/tmp/%s", dir, name);
		if (n < 0 || (size_t)n >= tmpsz)
			goto toolong;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
toolong:
	errno = ENAMETOOLONG;
	return -1;
}

/* Write the message into the open tmp file; octets written or -1. */
static off_t
write_tmp(const struct lctx *c, int fd)
{
	struct buf prefix = BUF_INIT;
	off_t n;

	if (msg_prefix(c, &prefix) == -1) {
		buf_free(&prefix);
		errno = ENOMEM;
		return -1;
	}
	n = msg_copy(c->msgfd, c->msgsize, fd, &prefix, false);
	buf_free(&prefix);
	if (n >= 0 && fsync(fd) != 0)
		n = -1;
	return n;
}

/*
 * The message as an unnamed file in tmp/ (O_TMPFILE), written and
 * fsync'd, then given its only name in new/ with linkat() (which never
 * overwrites) through /proc/self/fd: no tmp/ entry is made and removed,
 * and a crash leaves nothing behind in tmp/.  0 delivered (new filled,
 * new/ not yet fsync'd); 1 not possible here (no O_TMPFILE, no /proc):
 * use tmp/UNIQUE; -1 failed (errno; *what names the step).
 */
static int
deliver_anon(const struct lctx *c, const char *d, char *new, size_t newsz,
    const char **what)
{
	static bool unsupported;
	char path[4200], name[512], proc[64];
	off_t size;
	int fd, i, e;

	if (unsupported)
		return 1;
	snprintf(path, sizeof(path), "%s/tmp", d);
	fd = open(path, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (errno == EOPNOTSUPP || errno == EISDIR ||
		    errno == EINVAL) {
			unsupported = true;
			return 1;
		}
		*what = "tmp";
		return -1;
	}
	size = write_tmp(c, fd);
	if (size < 0) {
		e = errno;
		close(fd);
		errno = e;
		*what = "tmp";
		return -1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (i = 0; i < NAME_TRIES; i++) {
		if (unique_name(name, sizeof(name)) == -1)
			break;
		if (snprintf(new, newsz, "%s/new/%s,S=%lld", d, name,
		    (long long)size) >= (int)newsz) {
			errno = ENAMETOOLONG;
			break;
		}
		if (linkat(AT_FDCWD, proc, AT_FDCWD, new, AT_SYMLINK_FOLLOW)
		    == 0) {
			close(fd);
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	e = errno;
	close(fd);
	if (e == ENOENT && access("/proc/self/fd", X_OK) != 0) {
		unsupported = true;	/* no /proc: name it the old way */
		return 1;
	}
	errno = e;
	*what = "new";
	return -1;
}

/* tmp → new, never overwriting: renameat2(RENAME_NOREPLACE), one step;
 * where the file system lacks it, link (never overwrites) and unlink, or
 * a plain rename where it has no hard links either. */
static int
move_new(const char *tmp, const char *new)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, new, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -1;
	if (link(tmp, new) == 0) {
		unlink(tmp);
		return 0;
	}
	if (errno != EPERM && errno != ENOSYS && errno != EOPNOTSUPP)
		return -1;
	return rename(tmp, new);
}

void
maildir_deliver(const struct lctx *c, const char *dir, struct lresult *r)
{
	char d[4096], sub[4200], name[512], tmp[4800], new[5000];
	const char *what = "tmp";
	off_t size;
	int fd, e, rc;

	/* through directories only we (and root) can change */
	if (res_safe_path(r, "maildir", dir, SAFEPATH_LAST_DIR, d,
	    sizeof(d)) != 0)
		return;
	rc = deliver_anon(c, d, new, sizeof(new), &what);
	if (rc == -1 && errno == ENOENT) {	/* no Maildir (yet) */
		if (ensure_maildir(d, sub, sizeof(sub)) != 0)
			goto fail_dir;
		rc = deliver_anon(c, d, new, sizeof(new), &what);
	}
	if (rc == 0 && io_fsync_dir(new) == 0) {
		res_set(r, 'D', "2.0.0", "delivered to maildir %s/", d);
		return;
	}
	if (rc == 0) {
		/* linked, but the link may not survive a crash: the retry
		 * this failure asks for must not find a second copy */
		e = errno;
		(void)unlink(new);
		errno = e;
	}
	if (rc != 1) {
		e = errno;
		snprintf(sub, sizeof(sub), "%s/%s", d, rc == 0 ? "new" : what);
		res_errno(r, e, "maildir", sub);
		return;
	}
	snprintf(sub, sizeof(sub), "%s/tmp", d);
	/* an existing Maildir (the usual case) costs no mkdir or stat */
	fd = open_tmp(d, name, sizeof(name), tmp, sizeof(tmp));
	if (fd < 0 && errno == ENOENT) {
		if (ensure_maildir(d, sub, sizeof(sub)) != 0)
			goto fail_dir;
		snprintf(sub, sizeof(sub), "%s/tmp", d);
		fd = open_tmp(d, name, sizeof(name), tmp, sizeof(tmp));
	}
	if (fd < 0)
		goto fail_dir;
	size = write_tmp(c, fd);
	e = errno;
	if (close(fd) != 0 && size >= 0) {
		size = -1;
		e = errno;
	}
	if (size < 0) {
		unlink(tmp);
		res_errno(r, e, "maildir", tmp);
		return;
	}
	snprintf(new, sizeof(new), "%s/new/%s,S=%lld", d, name,
	    (long long)size);
	rc = move_new(tmp, new);
	if (rc != 0 && errno == ENOENT) {	/* new/ went missing */
		rc = ensure_maildir(d, sub, sizeof(sub));
		if (rc == 0)
			rc = move_new(tmp, new);
	}
	if (rc != 0 || io_fsync_dir(new) != 0) {
		e = errno;
		/* moved or not: no copy is left for the retry to double */
		unlink(rc == 0 ? new : tmp);
		snprintf(sub, sizeof(sub), "%s/new", d);
		res_errno(r, e, "maildir", sub);
		return;
	}
	res_set(r, 'D', "2.0.0", "delivered to maildir %s/", d);
	return;
fail_dir:
	/* name the directory that failed, not just the Maildir */
	res_errno(r, errno, "maildir", sub);
}

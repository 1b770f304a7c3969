/*
 * maildir.c — delivery into a Maildir (https://cr.yp.to/proto/maildir.html).
 *
 * The message is written to tmp/UNIQUE, fsync'd and closed, then moved to
 * new/UNIQUE,S=SIZE (the ",S=" size is what Dovecot reads) with
 * renameat2(RENAME_NOREPLACE) (or link and unlink), and the new/
 * directory fsync'd.  Only after that is the delivery
 * reported done; any failure before removes the tmp file, so a reader
 * never sees a partial message in new/.  UNIQUE is
 * "SECONDS.MmicrosecondsPpidQcounter.HOST" — unique across processes (pid),
 * time, and deliveries within one process (counter); O_EXCL guarantees we
 * never overwrite.  The Maildir and its tmp/new/cur are created (0700)
 * when tmp/ or new/ turns out to be missing (an existing Maildir costs no
 * mkdir or stat), each new directory's parent fsync'd so that a crash
 * cannot take a fresh Maildir (and the message in it) away; the parent
 * directory must exist.
 *
 * Runs as the mailbox owner; paths come from the administrator's tables or
 * the user's passwd entry, never from the message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/io.h"
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

/* Create tmp/UNIQUE; returns the fd and fills name, or -1. */
static int
open_tmp(const char *dir, char *name, size_t namesz, char *tmp,
    size_t tmpsz)
{
	static unsigned counter;
	char host[256];
	struct timeval tv;
	int fd, i, n;

	maildir_host(host, sizeof(host));
	for (i = 0; i < NAME_TRIES; i++) {
		gettimeofday(&tv, NULL);
		n = snprintf(name, namesz, "%lld.M%ldP%ldQ%u.%s",
		    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
		    ++counter, host);
		if (n < 0 || (size_t)n >= namesz)
			goto toolong;
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
	size_t len;
	off_t size;
	int fd, e, rc;

	len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (len >= sizeof(d)) {
		res_errno(r, ENAMETOOLONG, "maildir", dir);
		return;
	}
	memcpy(d, dir, len);
	d[len] = '\0';
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
		unlink(tmp);
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

/*
 * safepath.c — resolve a mailbox path through directories that nobody
 * but root and the mailbox's owner can change (see safepath.h).
 *
 * Trusts nothing in the path or in the file system: every length is
 * checked, symbolic links are followed at most SAFEPATH_HOPS times, and
 * each step consumes a component, so the walk is bounded.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/safepath.h"

#define SAFEPATH_HOPS 40
#define SAFEPATH_MAX 4096	/* PATH_MAX: what the kernel takes */

/* May names be looked up in this directory without anyone else able to
 * change the answer?  0, or -2 with the reason in why. */
static int
dir_safe(const char *p, const struct stat *st, uid_t uid, struct buf *why)
{
	const char *shown = p[0] != '\0' ? p : "/";

	if (st->st_uid != 0 && st->st_uid != uid) {
		buf_printf(why, "directory %s is owned by uid %lu", shown,
		    (unsigned long)st->st_uid);
		return -2;
	}
	if ((st->st_mode & S_IWOTH) != 0 && (st->st_mode & S_ISVTX) == 0) {
		buf_printf(why, "directory %s is writable by everyone and "
		    "not sticky", shown);
		return -2;
	}
	return 0;
}

/* Take the next component of rest (skipping slashes) into comp: 1, or 0
 * when there is none, or -1 when it is longer than a name can be. */
static int
next_component(char *rest, char *comp, size_t compsz)
{
	size_t skip = strspn(rest, "/");
	size_t n = strcspn(rest + skip, "/");

	if (n == 0)
		return 0;
	if (n >= compsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(comp, rest + skip, n);
	comp[n] = '\0';
	memmove(rest, rest + skip + n, strlen(rest + skip + n) + 1);
	return 1;
}

/* rest := link + "/" + rest, in place. */
static int
splice_link(char *rest, size_t restsz, const char *link, size_t linklen)
{
	size_t rlen = strlen(rest);

	if (linklen > restsz || rlen + 2 > restsz - linklen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memmove(rest + linklen + 1, rest, rlen + 1);
	memcpy(rest, link, linklen);
	rest[linklen] = '/';
	return 0;
}

int
safepath_resolve(const char *path, uid_t uid, int flags, char *out,
    size_t outsz, struct buf *why)
{
	char rest[SAFEPATH_MAX * 2], comp[NAME_MAX + 1];
	char cand[SAFEPATH_MAX], link[SAFEPATH_MAX];
	struct stat st;
	size_t olen = 0, plen;
	ssize_t ln;
	int hops = 0, last, rc;

	plen = strlen(path);
	if (path[0] != '/' || outsz < 2) {
		errno = EINVAL;
		return -1;
	}
	if (plen >= SAFEPATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(rest, path, plen + 1);
	out[0] = '\0';	/* "" is the root directory */
	if (lstat("/", &st) != 0)
		return -1;
	if ((rc = dir_safe("", &st, uid, why)) != 0)
		return rc;
	while ((rc = next_component(rest, comp, sizeof(comp))) != 0) {
		if (rc < 0)
			return -1;
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			char *slash = strrchr(out, '/');

			olen = slash != NULL ? (size_t)(slash - out) : 0;
			out[olen] = '\0';
			continue;
		}
		last = rest[strspn(rest, "/")] == '\0';
		if (olen + 1 + strlen(comp) >= outsz ||
		    olen + 1 + strlen(comp) >= sizeof(cand)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(cand, out, olen);
		cand[olen] = '/';
		memcpy(cand + olen + 1, comp, strlen(comp) + 1);
		if (last && (flags & SAFEPATH_LAST_DIR) == 0)
			goto append;
		if (lstat(cand, &st) != 0) {
			if (errno == ENOENT && last)
				goto append;	/* created by the caller */
			return -1;
		}
		if (S_ISLNK(st.st_mode)) {
			if (st.st_uid != 0 && st.st_uid != uid) {
				buf_printf(why, "symbolic link %s is owned by "
				    "uid %lu", cand, (unsigned long)st.st_uid);
				return -2;
			}
			if (++hops > SAFEPATH_HOPS) {
				errno = ELOOP;
				return -1;
			}
			ln = readlink(cand, link, sizeof(link));
			if (ln < 0)
				return -1;
			if (ln == 0 || (size_t)ln >= sizeof(link)) {
				errno = ln == 0 ? ENOENT : ENAMETOOLONG;
				return -1;
			}
			if (splice_link(rest, sizeof(rest), link,
			    (size_t)ln) != 0)
				return -1;
			if (link[0] == '/') {
				olen = 0;
				out[0] = '\0';
			}
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if ((rc = dir_safe(cand, &st, uid, why)) != 0)
				return rc;
		} else if (!last) {
			errno = ENOTDIR;
			return -1;
		}
append:
		olen = strlen(cand);
		memcpy(out, cand, olen + 1);
	}
	if (olen == 0) {	/* the path was "/" */
		out[0] = '/';
		out[1] = '\0';
	}
	return 0;
}

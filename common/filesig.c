/*
 * filesig.c — file signatures for reload-when-changed (filesig.h).
 * Trusts nothing: only stat()'s answer is used.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "common/filesig.h"

void
file_sig_get(const char *path, struct file_sig *sig)
{
	struct stat st;

	memset(sig, 0, sizeof(*sig));
	if (path == NULL)
		return;
	if (stat(path, &st) != 0) {
		sig->err = errno;
		return;
	}
	sig->dev = st.st_dev;
	sig->ino = st.st_ino;
	sig->size = st.st_size;
	sig->mtime = st.st_mtim;
	sig->ctime = st.st_ctim;
}

bool
file_sig_same(const struct file_sig *a, const struct file_sig *b)
{
	return a->err == b->err && a->dev == b->dev && a->ino == b->ino &&
	    a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    a->ctime.tv_sec == b->ctime.tv_sec &&
	    a->ctime.tv_nsec == b->ctime.tv_nsec;
}

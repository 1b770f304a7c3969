/*
 * filesig.h — has a file changed?  A process that serves many sessions or
 * jobs keeps what it parsed from its configuration and tables and reads
 * them again only when one of the files changed: its device, inode, size,
 * modification or change time, or whether it exists.  stat() it before
 * reading, so that a change during the read counts as a change next time.
 */
#ifndef POSTHORN_FILESIG_H
#define POSTHORN_FILESIG_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

struct file_sig {
	int err;		/* stat's errno, 0 = exists */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/* path NULL: the zero signature (an unset table). */
void file_sig_get(const char *path, struct file_sig *sig);
bool file_sig_same(const struct file_sig *a, const struct file_sig *b);

#endif

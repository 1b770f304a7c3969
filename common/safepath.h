/*
 * safepath.h — resolve a mailbox path through directories that nobody
 * but root and the mailbox's owner can change.
 *
 * A delivery agent runs as the mailbox's owner and then opens the mailbox
 * by name.  If some other user could rename or replace a directory on the
 * way (because they own it, or it is world-writable without the sticky
 * bit), they could swap in a symbolic link between the moment the owner
 * was decided and the open, and make the agent write, as that owner, into
 * another of that owner's files.  safepath_resolve() walks the path one
 * component at a time with lstat(), follows symbolic links itself (only
 * those owned by root or the owner), and checks every directory it looks
 * a name up in: owned by root or the owner, and not writable by others
 * unless sticky.  The result names the same file through real directories
 * only, which from then on only root and the owner can change, so opening
 * it by name later is safe.  Group-writable directories are accepted: the
 * group is one the directory's owner chose.
 *
 * Trusts nothing in the path; it comes from the administrator's tables or
 * a user's passwd entry or .forward.
 */
#ifndef POSTHORN_SAFEPATH_H
#define POSTHORN_SAFEPATH_H

#include <stddef.h>
#include <sys/types.h>

struct buf;

/* Also resolve and check the last component when it exists (a Maildir,
 * looked up in by name afterwards); otherwise it is left as it is (an
 * mbox, which the caller opens with O_NOFOLLOW and checks itself). */
#define SAFEPATH_LAST_DIR 1

/*
 * Resolve absolute path for uid into out (outsz bytes).  A missing last
 * component is fine (a mailbox not yet created).  Returns 0; -1 with
 * errno set (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EINVAL for a relative
 * path, or what lstat/readlink said); or -2 when the path is unsafe,
 * with the reason in why ("directory /x is owned by uid 1001").
 */
int safepath_resolve(const char *path, uid_t uid, int flags, char *out,
    size_t outsz, struct buf *why);

#endif

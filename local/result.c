/*
 * result.c — delivery outcomes: setting, classifying errno values into
 * temporary / permanent failures with enhanced status codes (RFC 3463),
 * and merging the outcomes of an alias expansion's parts.
 *
 * Classification: anything the administrator or time can fix (disk full,
 * quota, I/O errors, a read-only file system, missing NFS home, lock
 * timeout) is temporary; what
 * cannot change by waiting (permission denied, not a regular file, a
 * symbolic link where a mailbox should be) is permanent.  Every
 * diagnostic names the path; a read-only file system (under systemd most
 * likely the unit's ProtectSystem=/ProtectHome= sandbox) and permission
 * problems say where to look.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/safepath.h"

#include "local/local.h"

void
res_set(struct lresult *r, char status, const char *dsn, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	r->status = status;
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	/* diagnostics may quote hostile text: keep them printable */
	for (i = 0; r->text[i] != '\0'; i++)
		if ((unsigned char)r->text[i] < 0x20 ||
		    (unsigned char)r->text[i] > 0x7e)
			r->text[i] = '?';
}

void
res_errno(struct lresult *r, int err, const char *what, const char *path)
{
	const char *s = strerror(err);

	switch (err) {
	case ENOSPC:
		res_set(r, 'T', "4.3.1", "%s %s: %s", what, path, s);
		break;
	case EDQUOT:
		res_set(r, 'T', "4.2.2", "%s %s: mailbox full (%s)", what,
		    path, s);
		break;
	case EROFS:	/* remounted or sandboxed: the admin's to fix */
		res_set(r, 'T', "4.3.0", "%s %s: %s (under systemd: not in "
		    "ReadWritePaths= of posthorn-send.service, or "
		    "ProtectHome=)", what, path, s);
		break;
	case EACCES:
	case EPERM:
		res_set(r, 'P', "5.2.0", "%s %s: %s (delivering as uid %lu)",
		    what, path, s, (unsigned long)geteuid());
		break;
	case ELOOP:
	case EISDIR:
	case ENOTDIR:
	case EMLINK:
	case EFTYPE_LOCAL:
		res_set(r, 'P', "5.2.0", "%s %s: not a safe mailbox (%s)",
		    what, path, err == EFTYPE_LOCAL ? "not a regular file" :
		    s);
		break;
	case EFBIG:
		/* a file size limit (RLIMIT_FSIZE, as Postfix's
		 * mailbox_size_limit): an mbox that cannot grow is full; a
		 * Maildir file holds this one message, too large for it */
		if (strcmp(what, "mailbox") == 0)
			res_set(r, 'P', "5.2.2", "%s %s: mailbox full (%s)",
			    what, path, s);
		else
			res_set(r, 'P', "5.2.3", "%s %s: message too large "
			    "(%s)", what, path, s);
		break;
	default:
		res_set(r, 'T', "4.2.0", "%s %s: %s", what, path, s);
		break;
	}
}

static int
rank(char status)
{
	switch (status) {
	case 'T':
		return 3;
	case 'P':
		return 2;
	case 'D':
		return 1;
	default:
		return 0;
	}
}

void
res_merge(struct lresult *total, const struct lresult *part)
{
	if (rank(part->status) > rank(total->status))
		*total = *part;
}

int
res_safe_path(struct lresult *r, const char *what, const char *path,
    int flags, char *out, size_t outsz)
{
	struct buf why = BUF_INIT;
	int rc;

	rc = safepath_resolve(path, geteuid(), flags, out, outsz, &why);
	if (rc == -2)
		res_set(r, 'T', "4.2.0", "%s %s: unsafe path: %s, not written "
		    "(fix the permissions)", what, path, buf_str(&why));
	else if (rc != 0)
		res_errno(r, errno, what, path);
	buf_free(&why);
	return rc == 0 ? 0 : -1;
}

/*
 * localuser.h — who a local recipient is.  One resolution, used by
 * posthorn-smtpd (reject unknown users at RCPT with 550 5.1.1), by the
 * spawner (which uid to run posthorn-local as) and by posthorn-local itself
 * (what to deliver to).  The order is the one documented in
 * man/posthorn-local.8: virtual mailboxes, then aliases, then system users
 * (getpwnam; ~/.forward), each first with the full local part and then,
 * for "user+ext", with "user".  Lookups read the configuration's tables
 * and the password database; nothing here touches message bytes.
 */
#ifndef POSTHORN_LOCALUSER_H
#define POSTHORN_LOCALUSER_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/table.h"

struct local_tables {
	struct table mailboxes;	/* TABLE_SPACE */
	struct table aliases;	/* TABLE_ALIASES */
	struct table relocated;	/* TABLE_SPACE */
};

enum local_kind {
	LOCAL_NONE = 0,		/* no such user */
	LOCAL_MAILBOX,		/* virtual mailbox: path set */
	LOCAL_ALIAS,		/* aliases entry: value set */
	LOCAL_USER		/* system user: uid/gid/home set */
};

struct local_target {
	enum local_kind kind;
	char user[ADDR_LOCAL_MAX + 1];	/* the key that matched */
	char ext[ADDR_LOCAL_MAX + 1];	/* "+ext" part without the
					   delimiter ("" if none) */
	const char *path;	/* LOCAL_MAILBOX: the table value */
	const char *value;	/* LOCAL_ALIAS: the table value */
	uid_t uid;		/* LOCAL_USER; LOCAL_MAILBOX: owner of the
				   mailbox (its directory, or nearest
				   existing parent; a symlink on the
				   way owned by someone other than
				   root makes it that someone's);
				   (uid_t)-1 when
				   the caller may not stat it (EACCES):
				   the spawner treats that as a
				   temporary failure */
	gid_t gid;
	char home[4096];	/* LOCAL_USER */
};

/* Load the three tables named in cfg.  0 ok, -1 with err. */
int local_tables_load(const struct config *cfg, struct local_tables *t,
    struct buf *err);
void local_tables_free(struct local_tables *t);

/* Resolve recipient "local@domain" (domain must be local; the caller
 * checks).  Returns 1 found (*out filled), 0 no such user, -1 temporary
 * failure (err says why, e.g. the password database failed).
 * "postmaster" that matches nothing resolves to LOCAL_ALIAS "root"
 * (RFC 5321 4.5.1). */
int local_resolve(const struct config *cfg, const struct local_tables *t,
    const char *rcpt, struct local_target *out, struct buf *err);
/* The same without the aliases table (and without the postmaster
 * default): a recipient the queue marked as "own mailbox" (sendmail's
 * "\user" in an alias) is a mailbox or a system user, never an alias. */
int local_resolve_mailbox(const struct config *cfg,
    const struct local_tables *t, const char *rcpt, struct local_target *out,
    struct buf *err);

/* relocated table: the new address for rcpt, or NULL.  Keys tried:
 * "user@domain", "@domain", then "user", with the local part unquoted
 * as local_resolve uses it ("bob"@dom is bob@dom; one holding '@' only
 * matches "@domain").  Call it for local domains only if bare
 * local-part keys must not match elsewhere. */
const char *local_relocated(const struct local_tables *t, const char *rcpt);

/* The posthorn service accounts, which never receive mail as themselves
 * (posthorn-local refuses them with 5.7.1, as it refuses root, and the
 * spawner never runs an agent as one): the users posthorn-queue,
 * posthorn-smtpd and posthorn-remote, and the owner of the spool unless
 * that is the caller itself (posthorn-run run by an ordinary user owns
 * both its spool and its mailboxes).  Returns a name for the log (the
 * user's, or "the owner of the spool"), or NULL for any other uid.  The
 * three users are looked up once per process, and again whenever
 * /etc/passwd changes (not on every call: that cost every delivery three
 * reads of the password database). */
const char *local_service_account(const struct config *cfg, uid_t uid);

#endif

/*
 * localuser.c — who a local recipient is (see localuser.h).
 *
 * Resolution order, for "local@domain" (the caller has checked that the
 * domain is local):
 *
 *   1. mailboxes: "local@domain", then "local"
 *   2. aliases:   "local"
 *   3. system users: getpwnam("local") (lower-cased first when
 *      local_case_insensitive), only for names made of [A-Za-z0-9._-]
 *
 * each stage first with the whole local part and then, when it has the
 * form "user+ext" (recipient_delimiter), with "user".  "local" is the
 * local part unquoted; one that holds '@' ("x@y"@domain) matches
 * nothing, so that it cannot reach another domain's full-address key.
 * "postmaster" that
 * matches nothing is a built-in alias for "root" (RFC 5321 4.5.1 requires
 * the address to exist).
 *
 * Trust: the recipient comes from the network; it is fully re-parsed with
 * addr.h before any lookup, and only a restricted character set ever
 * reaches getpwnam.  The tables are the administrator's; the password
 * database is the system's.  Nothing here touches message bytes.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/localuser.h"

#define PW_BUF_MAX	(1024 * 1024)	/* largest getpwnam_r buffer */

int
local_tables_load(const struct config *cfg, struct local_tables *t,
    struct buf *err)
{
	memset(t, 0, sizeof(*t));
	if (cfg->mailboxes != NULL &&
	    table_load(cfg->mailboxes, TABLE_SPACE, &t->mailboxes, err) == -1)
		goto fail;
	if (cfg->aliases != NULL &&
	    table_load(cfg->aliases, TABLE_ALIASES, &t->aliases, err) == -1)
		goto fail;
	if (cfg->relocated != NULL &&
	    table_load(cfg->relocated, TABLE_SPACE, &t->relocated, err) == -1)
		goto fail;
	return 0;
fail:
	local_tables_free(t);
	return -1;
}

void
local_tables_free(struct local_tables *t)
{
	table_free(&t->mailboxes);
	table_free(&t->aliases);
	table_free(&t->relocated);
}

/* A name we are willing to hand to getpwnam: POSIX portable user names. */
static bool
sysuser_name_ok(const char *s)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '-' || s[0] == '.')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return false;
	}
	return i <= 32;
}

/*
 * A symbolic link on the way to p that someone other than root owns lets
 * that someone decide where the path leads, so the mailbox is theirs,
 * whatever the link points to: otherwise a user could point "their"
 * mailbox (or a directory above it) at another user's files and have the
 * spawner run posthorn-local as that other user.  Components are examined
 * from the root down; the first such link decides.  1 = found (*uid,
 * *gid its owner), 0 = none.
 */
static int
link_owner(const char *p, uid_t *uid, gid_t *gid)
{
	char q[4096];
	struct stat st;
	size_t i, n = strlen(p);
	char c;

	if (n >= sizeof(q))
		return 0;
	memcpy(q, p, n + 1);
	for (i = 1; i <= n; i++) {
		if (q[i] != '/' && q[i] != '\0')
			continue;
		c = q[i];
		q[i] = '\0';
		if (lstat(q, &st) == 0 && S_ISLNK(st.st_mode) &&
		    st.st_uid != 0) {
			*uid = st.st_uid;
			*gid = st.st_gid;
			return 1;
		}
		q[i] = c;
	}
	return 0;
}

/*
 * Owner of a mailbox path: the path itself, else the nearest existing
 * parent directory -- unless a symbolic link on the way belongs to
 * someone other than root (link_owner).  uid/gid are (uid_t)-1 when a
 * component cannot be examined (EACCES: the caller is not privileged
 * enough to know).  Returns 0, or -1 for any other error (errno set).
 */
static int
mailbox_owner(const char *path, uid_t *uid, gid_t *gid)
{
	char p[4096];
	size_t n;
	struct stat st;
	int guard;

	n = strlen(path);
	if (n == 0 || n >= sizeof(p) || path[0] != '/') {
		errno = EINVAL;
		return -1;
	}
	memcpy(p, path, n + 1);
	/* a link's owner decides even when its target is out of reach */
	if (link_owner(p, uid, gid) == 1)
		return 0;
	/* every pass removes at least one character: bounded by n */
	for (guard = 0; guard < (int)sizeof(p); guard++) {
		while (n > 1 && p[n - 1] == '/')
			p[--n] = '\0';
		if (stat(p, &st) == 0) {
			*uid = st.st_uid;
			*gid = st.st_gid;
			return 0;
		}
		if (errno == EACCES) {
			*uid = (uid_t)-1;
			*gid = (gid_t)-1;
			return 0;
		}
		if ((errno != ENOENT && errno != ENOTDIR) || n <= 1)
			return -1;
		while (n > 1 && p[n - 1] != '/')
			p[--n] = '\0';
	}
	errno = ELOOP;
	return -1;
}

static int
try_mailbox(const struct local_tables *t, const char *lp, const char *domain,
    struct local_target *out, struct buf *err)
{
	const struct table_entry *e = NULL;
	char key[ADDR_MAX];
	int n;

	if (domain[0] != '\0') {
		n = snprintf(key, sizeof(key), "%s@%s", lp, domain);
		if (n > 0 && (size_t)n < sizeof(key))
			e = table_lookup(&t->mailboxes, key);
	}
	if (e == NULL)
		e = table_lookup(&t->mailboxes, lp);
	if (e == NULL)
		return 0;
	out->kind = LOCAL_MAILBOX;
	out->path = e->value;
	if (mailbox_owner(e->value, &out->uid, &out->gid) == -1) {
		buf_printf(err, "%s:%u: mailbox %s: %s", t->mailboxes.path ?
		    t->mailboxes.path : "mailboxes", e->line, e->value,
		    errno == EINVAL ? "not an absolute path" :
		    strerror(errno));
		return -1;
	}
	return 1;
}

static int
try_alias(const struct local_tables *t, const char *lp,
    struct local_target *out)
{
	const struct table_entry *e;

	e = table_lookup(&t->aliases, lp);
	if (e == NULL)
		return 0;
	out->kind = LOCAL_ALIAS;
	out->value = e->value;
	return 1;
}

static int
try_user(const struct config *cfg, const char *lp, struct local_target *out,
    struct buf *err)
{
	char name[ADDR_LOCAL_MAX + 1];
	struct passwd pw, *res = NULL;
	char *mem = NULL, *nmem;
	size_t sz = 4096;
	int rc;

	if (!sysuser_name_ok(lp))
		return 0;
	snprintf(name, sizeof(name), "%s", lp);
	if (cfg->local_case_insensitive)
		addr_lower(name);
	for (;;) {
		nmem = realloc(mem, sz);
		if (nmem == NULL) {
			free(mem);
			buf_printf(err, "getpwnam: out of memory");
			return -1;
		}
		mem = nmem;
		rc = getpwnam_r(name, &pw, mem, sz, &res);
		if (rc != ERANGE || sz >= PW_BUF_MAX)
			break;
		sz *= 2;
	}
	if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF &&
	    rc != EPERM) {
		buf_printf(err, "password database: %s", strerror(rc));
		free(mem);
		return -1;
	}
	if (rc != 0 || res == NULL) {
		free(mem);
		return 0;
	}
	if (strlen(pw.pw_dir) >= sizeof(out->home)) {
		buf_printf(err, "user %s: home directory path too long", name);
		free(mem);
		return -1;
	}
	out->kind = LOCAL_USER;
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	snprintf(out->home, sizeof(out->home), "%s", pw.pw_dir);
	/* report the canonical name from the database */
	snprintf(out->user, sizeof(out->user), "%s", pw.pw_name);
	free(mem);
	return 1;
}

/* One stage for the candidates (full local part, then "user"). */
enum stage { ST_MAILBOX, ST_ALIAS, ST_USER };

static int
try_stage(const struct config *cfg, const struct local_tables *t,
    enum stage st, const char *lp, const char *domain,
    struct local_target *out, struct buf *err)
{
	int rc;

	snprintf(out->user, sizeof(out->user), "%s", lp);
	switch (st) {
	case ST_MAILBOX:
		rc = try_mailbox(t, lp, domain, out, err);
		break;
	case ST_ALIAS:
		rc = try_alias(t, lp, out);
		break;
	default:
		rc = try_user(cfg, lp, out, err);
		break;
	}
	return rc;
}

static int
resolve(const struct config *cfg, const struct local_tables *t,
    const char *rcpt, bool aliases, struct local_target *out,
    struct buf *err)
{
	struct addr a;
	const char *why;
	char lp[ADDR_LOCAL_MAX + 1], user[ADDR_LOCAL_MAX + 1];
	char ext[ADDR_LOCAL_MAX + 1];
	int st, rc;

	memset(out, 0, sizeof(*out));
	out->kind = LOCAL_NONE;
	if (addr_parse_mailbox(rcpt, strlen(rcpt),
	    ADDR_UTF8 | ADDR_ALLOW_NODOMAIN, &a, &why) == -1)
		return 0;
	if (addr_local_unquoted(&a, lp, sizeof(lp)) < 0 || lp[0] == '\0')
		return 0;
	/* "secret@internal.example"@ours must not reach the mailboxes
	 * entry secret@internal.example: no table key is looked up for a
	 * local part with '@', and no system user has one */
	if (!addr_local_key_ok(lp))
		return 0;
	user[0] = ext[0] = '\0';
	if (cfg->recipient_delimiter != '\0') {
		addr_split_ext(lp, cfg->recipient_delimiter, user, ext);
		if (user[0] == '\0' || ext[0] == '\0')
			user[0] = ext[0] = '\0';
	}
	for (st = ST_MAILBOX; st <= ST_USER; st++) {
		if (st == ST_ALIAS && !aliases)
			continue;
		rc = try_stage(cfg, t, (enum stage)st, lp, a.domain, out, err);
		if (rc == 0 && user[0] != '\0') {
			rc = try_stage(cfg, t, (enum stage)st, user, a.domain,
			    out, err);
			if (rc == 1)
				snprintf(out->ext, sizeof(out->ext), "%s",
				    ext);
		}
		if (rc != 0)
			return rc;
	}
	/* RFC 5321 4.5.1: postmaster must exist; default it to root. */
	if (aliases && strcasecmp(lp, "postmaster") == 0) {
		out->kind = LOCAL_ALIAS;
		snprintf(out->user, sizeof(out->user), "postmaster");
		out->value = "root";
		return 1;
	}
	memset(out, 0, sizeof(*out));
	out->kind = LOCAL_NONE;
	return 0;
}

int
local_resolve(const struct config *cfg, const struct local_tables *t,
    const char *rcpt, struct local_target *out, struct buf *err)
{
	return resolve(cfg, t, rcpt, true, out, err);
}

int
local_resolve_mailbox(const struct config *cfg, const struct local_tables *t,
    const char *rcpt, struct local_target *out, struct buf *err)
{
	return resolve(cfg, t, rcpt, false, out, err);
}

const char *
local_relocated(const struct local_tables *t, const char *rcpt)
{
	const struct table_entry *e;
	struct addr a;
	const char *why;
	char lp[ADDR_LOCAL_MAX + 1], key[ADDR_MAX + 1];
	int n;

	/* the same key forms as local_resolve: the local part unquoted
	 * ("bob"@dom is bob@dom), never one holding '@' */
	if (addr_parse_mailbox(rcpt, strlen(rcpt),
	    ADDR_UTF8 | ADDR_ALLOW_NODOMAIN, &a, &why) == -1 ||
	    addr_local_unquoted(&a, lp, sizeof(lp)) < 0)
		return NULL;
	if (addr_local_key_ok(lp) && a.domain[0] != '\0') {
		n = snprintf(key, sizeof(key), "%s@%s", lp, a.domain);
		if (n > 0 && (size_t)n < sizeof(key) &&
		    (e = table_lookup(&t->relocated, key)) != NULL)
			return e->value;
	}
	/* "@domain": everyone at that domain moved */
	if (a.domain[0] != '\0') {
		n = snprintf(key, sizeof(key), "@%s", a.domain);
		if (n > 0 && (size_t)n < sizeof(key) &&
		    (e = table_lookup(&t->relocated, key)) != NULL)
			return e->value;
	}
	/* "user": that local part at any domain the caller asks about */
	if (addr_local_key_ok(lp) &&
	    (e = table_lookup(&t->relocated, lp)) != NULL)
		return e->value;
	return NULL;
}

/* The service accounts' uids, looked up once per process and again only
 * when /etc/passwd changes (sysusers, useradd and vipw all replace or
 * rewrite it): three getpwnam calls cost a delivery more than its own
 * lookups (each reads the whole file, and a missing name goes on to every
 * NSS source, e.g. systemd's userdb directories).  An account missing at
 * the last look is (uid_t)-1. */
static const char *const service_names[] = { "posthorn-queue",
	"posthorn-smtpd", "posthorn-remote" };
#define NSERVICE	(sizeof(service_names) / sizeof(service_names[0]))

static void
service_uids(uid_t *uids)
{
	static uid_t cached[NSERVICE];
	static struct stat seen;
	static int valid;
	struct passwd *pw;
	struct stat st;
	size_t i;

	if (stat("/etc/passwd", &st) == -1)
		memset(&st, 0, sizeof(st));	/* no file: NSS only, no cache */
	if (!valid || st.st_ino == 0 || st.st_ino != seen.st_ino ||
	    st.st_dev != seen.st_dev || st.st_size != seen.st_size ||
	    st.st_mtim.tv_sec != seen.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != seen.st_mtim.tv_nsec) {
		for (i = 0; i < NSERVICE; i++)
			cached[i] = (pw = getpwnam(service_names[i])) != NULL ?
			    pw->pw_uid : (uid_t)-1;
		seen = st;
		valid = 1;
	}
	memcpy(uids, cached, sizeof(cached));
}

const char *
local_service_account(const struct config *cfg, uid_t uid)
{
	uid_t uids[NSERVICE];
	struct stat st;
	size_t i;

	service_uids(uids);
	for (i = 0; i < NSERVICE; i++)
		if (uids[i] != (uid_t)-1 && uids[i] == uid)
			return service_names[i];
	if (cfg->spool != NULL && stat(cfg->spool, &st) == 0 &&
	    st.st_uid == uid && uid != geteuid())
		return "the owner of the spool";
	return NULL;
}

/*
 * deliver.c — one local delivery: loop check, resolution (localuser.h),
 * privilege checks, then the mailbox, alias or user path.
 *
 * posthorn-local is started by the spawner with the recipient's uid
 * already set (queue/spawn.c), or, when the whole instance runs as one
 * unprivileged user (posthorn-run), with that user's uid.  It never runs
 * as root (main.c refuses) and never changes uid itself, so here we only
 * check that the uid we have is the one the recipient needs:
 *
 *   - a target that is uid 0 (root's mailbox, a root-owned virtual
 *     mailbox), or a posthorn service account (posthorn-queue,
 *     posthorn-smtpd, posthorn-remote, the spool's owner), is refused
 *     permanently (5.7.1): alias it to a person;
 *   - any other mismatch is a deployment error and is deferred (4.3.5)
 *     rather than written with the wrong owner.
 *
 * An alias is the administrator's and runs as alias_user.  Started by
 * the spawner with another uid (it saw a user or a mailbox; the aliases
 * file changed before we read it, or between the jobs of a reused
 * agent), we defer (4.3.5) instead of running the alias's programs and
 * files as that person; the retry gets an agent with the right uid.  A
 * whole instance run by one ordinary user (posthorn-run), who owns the
 * spool, delivers everything as that user.
 *
 * System users: ~/.forward is honoured only when it is a regular file
 * owned by the user and not group- or world-writable; otherwise it is
 * ignored (and logged) and the mail goes to the mailbox.  A home
 * directory that does not exist (Debian's /nonexistent for system
 * accounts, a removed home) means no .forward and no ~/Maildir/: the mail
 * goes to mail_spool_dir, as with Postfix; one that cannot be examined
 * (permission, I/O error, a stale NFS handle) defers.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "local/local.h"

#define FORWARD_MAX	65536

/* Who we are, for HOME/USER of programs run from the aliases file: looked
 * up once per process (our uid never changes, and an agent lives at most
 * a minute), not once per delivery. */
static void
set_self(struct lctx *c)
{
	static char user[sizeof(c->user)], home[sizeof(c->home)];
	struct passwd *pw;

	if (user[0] == '\0') {
		if ((pw = getpwuid(geteuid())) != NULL) {
			snprintf(user, sizeof(user), "%s", pw->pw_name);
			snprintf(home, sizeof(home), "%s", pw->pw_dir);
		} else {
			snprintf(user, sizeof(user), "%lu",
			    (unsigned long)geteuid());
			snprintf(home, sizeof(home), "/");
		}
	}
	memcpy(c->user, user, sizeof(user));
	memcpy(c->home, home, sizeof(home));
}

/* 0 = we may deliver as uid; else *r is set. */
static int
check_uid(const struct lctx *c, uid_t uid, const char *what,
    struct lresult *r)
{
	const char *service;

	if (uid == 0) {
		res_set(r, 'P', "5.7.1", "refusing to deliver as root; alias "
		    "root to a user");
		return -1;
	}
	/* a delivery as the spool's owner could rewrite the queue, one as
	 * posthorn-smtpd or posthorn-remote would cross into the programs
	 * facing the network: refused like root (the spawner started us
	 * as alias_user for it) */
	if (uid != (uid_t)-1 &&
	    (service = local_service_account(c->cfg, uid)) != NULL) {
		res_set(r, 'P', "5.7.1", "refusing to deliver as uid %lu, "
		    "%s (a posthorn service account); alias it to a user",
		    (unsigned long)uid, service);
		return -1;
	}
	if (uid == (uid_t)-1) {
		res_set(r, 'T', "4.3.0", "cannot determine the owner of %s",
		    what);
		return -1;
	}
	if (uid != geteuid()) {
		res_set(r, 'T', "4.3.5", "delivery agent runs as uid %lu but "
		    "%s belongs to uid %lu", (unsigned long)geteuid(), what,
		    (unsigned long)uid);
		return -1;
	}
	return 0;
}

/* 0 = we may deliver an alias (see above); else *r is set. */
static int
check_alias_uid(const struct lctx *c, struct lresult *r)
{
	const char *au = c->cfg->alias_user;
	struct passwd *pw;
	struct stat st;
	uid_t self = geteuid();

	if (!c->spawned)
		return 0;
	if (au != NULL && (pw = getpwnam(au)) != NULL && pw->pw_uid == self)
		return 0;
	if (c->cfg->spool != NULL && stat(c->cfg->spool, &st) == 0 &&
	    st.st_uid == self)
		return 0;
	res_set(r, 'T', "4.3.5", "delivery agent runs as uid %lu, but an "
	    "alias is delivered as alias_user %s", (unsigned long)self,
	    au != NULL ? au : "(unset)");
	return -1;
}

void
mailbox_deliver(const struct lctx *c, const char *user, const char *home,
    struct lresult *r)
{
	char path[4200];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/Maildir/", home) <
	    (int)sizeof(path) && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		maildir_deliver(c, path, r);
		return;
	}
	if (snprintf(path, sizeof(path), "%s/%s", c->cfg->mail_spool_dir,
	    user) >= (int)sizeof(path)) {
		res_errno(r, ENAMETOOLONG, "mailbox", user);
		return;
	}
	/* We run as the user: a missing mbox in a spool directory the user
	 * may not write is the administrator's to fix, not a bounce. */
	if (lstat(path, &st) != 0 && errno == ENOENT &&
	    access(c->cfg->mail_spool_dir, W_OK | X_OK) != 0) {
		res_set(r, 'T', "4.3.5", "cannot create %s as %s: make %s "
		    "mode 1777, create the mbox owned by the user, or create "
		    "~/Maildir/", path, user, c->cfg->mail_spool_dir);
		return;
	}
	mbox_deliver(c, path, r);
}

int
local_read_fd(int fd, size_t max, struct buf *b)
{
	char chunk[4096];
	ssize_t n;

	buf_reset(b);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if ((size_t)n > max - b->len) {
			errno = EFBIG;
			return -1;
		}
		if (buf_append(b, chunk, (size_t)n) == -1)
			return -1;
	}
}

/* Read ~/.forward if it is trustworthy: 1 = value in out, 0 = none
 * (missing, or ignored with a log line), -1 = cannot tell now (errno: an
 * I/O error, no descriptors or memory): delivering to the mailbox then
 * could keep mail from where the user sends it.  The text is read from
 * the very descriptor whose owner and mode were checked, so swapping
 * the file in between changes nothing. */
int
read_forward(const struct lctx *c, uid_t uid, struct buf *out)
{
	char path[4200];
	struct buf text = BUF_INIT;
	struct stat st;
	const char *why = NULL;
	int fd, ok, rc;

	snprintf(path, sizeof(path), "%s/.forward", c->home);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (fd < 0 && errno != ELOOP && errno != EACCES)
		return -1;
	ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_uid == uid && (st.st_mode & 022) == 0;
	if (!ok) {
		log_msg(LOG_WARNING, "forward_ignored", "qid", c->qid,
		    "path", path, "reason", fd < 0 ? strerror(errno) :
		    "not a regular file owned by the user without "
		    "group/world write", NULL);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	rc = local_read_fd(fd, FORWARD_MAX, &text);
	close(fd);
	if (rc != 0 && errno != EFBIG) {
		int saved = errno;

		buf_free(&text);
		errno = saved;
		return -1;
	}
	if (rc != 0 ||
	    forward_text_to_value(text.data, text.len, out, &why) != 0) {
		log_msg(LOG_WARNING, "forward_ignored", "qid", c->qid,
		    "path", path, "reason", why ? why : strerror(errno), NULL);
		buf_free(&text);
		return 0;
	}
	buf_free(&text);
	return out->len > 0;
}

static void
deliver_user(struct lctx *c, const struct local_target *t, struct lresult *r)
{
	struct buf fwd = BUF_INIT;
	struct stat st;
	int rc;

	if (check_uid(c, t->uid, "the mailbox", r) != 0)
		return;
	snprintf(c->user, sizeof(c->user), "%s", t->user);
	snprintf(c->home, sizeof(c->home), "%s", t->home);
	if (stat(c->home, &st) != 0) {
		if (errno != ENOENT && errno != ENOTDIR) {
			res_set(r, 'T', "4.3.0", "home directory %s: %s",
			    c->home, strerror(errno));
			return;
		}
		/* mailbox_deliver looks for HOME/Maildir/ and finds none */
		log_msg(LOG_NOTICE, "home_missing", "qid", c->qid, "user",
		    c->user, "home", c->home, "reason", "no .forward, no "
		    "~/Maildir/: delivered to mail_spool_dir", NULL);
		mailbox_deliver(c, c->user, c->home, r);
		return;
	}
	rc = c->own_mailbox ? 0 : read_forward(c, t->uid, &fwd);
	if (rc == 1)
		expand_deliver(c, buf_str(&fwd), t->user, true, r);
	else if (rc == 0)
		mailbox_deliver(c, c->user, c->home, r);
	else
		res_set(r, 'T', "4.3.0", "cannot read %s/.forward: %s",
		    c->home, strerror(errno));
	buf_free(&fwd);
}

static void
deliver_target(struct lctx *c, const struct local_target *t,
    struct lresult *r)
{
	switch (t->kind) {
	case LOCAL_MAILBOX:
		if (check_uid(c, t->uid, t->path, r) != 0)
			return;
		if (t->path[strlen(t->path) - 1] == '/')
			maildir_deliver(c, t->path, r);
		else
			mbox_deliver(c, t->path, r);
		return;
	case LOCAL_ALIAS:
		if (check_alias_uid(c, r) != 0)
			return;
		expand_deliver(c, t->value, t->user, false, r);
		return;
	case LOCAL_USER:
		deliver_user(c, t, r);
		return;
	default:
		res_set(r, 'P', "5.1.1", "no such user");
		return;
	}
}

void
local_deliver(struct lctx *c, struct lresult *r)
{
	struct local_target t;
	struct buf err = BUF_INIT;
	struct addr a;
	const char *why;
	int rc;

	set_self(c);
	if (addr_parse_mailbox(c->rcpt, strlen(c->rcpt),
	    ADDR_UTF8 | ADDR_ALLOW_NODOMAIN, &a, &why) != 0 ||
	    addr_local_unquoted(&a, c->local, sizeof(c->local)) < 0) {
		res_set(r, 'P', "5.1.3", "bad recipient address");
		return;
	}
	snprintf(c->domain, sizeof(c->domain), "%s", a.domain);
	/* a delivery to the own mailbox forwards nothing, so it cannot be
	 * part of a loop; and the alias that sent it here put its own
	 * Delivered-To (this very address) on the copy */
	rc = c->own_mailbox ? 0 :
	    msg_loop_check(c->msgfd, c->msgsize, c->rcpt);
	if (rc != 0) {
		if (rc == 1)
			res_set(r, 'P', "5.4.6", "mail forwarding loop for %s",
			    c->rcpt);
		else
			res_set(r, 'T', "4.3.0", "reading the message: %s",
			    strerror(errno));
		return;
	}
	rc = c->own_mailbox ?
	    local_resolve_mailbox(c->cfg, c->tabs, c->rcpt, &t, &err) :
	    local_resolve(c->cfg, c->tabs, c->rcpt, &t, &err);
	if (rc == 1) {
		snprintf(c->ext, sizeof(c->ext), "%s", t.ext);
		deliver_target(c, &t, r);
	} else if (rc == 0)
		res_set(r, 'P', "5.1.1", "no such user here");
	else
		res_set(r, 'T', "4.3.0", "recipient lookup failed: %s",
		    buf_str(&err));
	buf_free(&err);
}

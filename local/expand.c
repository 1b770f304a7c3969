/*
 * expand.c — alias and ~/.forward expansion.
 *
 * Items (common/table.h alias_split syntax):
 *   |command          program delivery (program.c)
 *   /path/file        mbox (mbox.c);  /path/dir/  Maildir (maildir.c)
 *   :include:/path    the file's lines are more items (one level deeper)
 *   name, name@dom    an address; "\name" is the same without alias lookup
 *                     ("john doe"@dom, Name <addr> and (comments) too)
 *
 * An item that is not an address fails alone and permanently (5.1.3);
 * the rest of the list is still delivered.
 *
 * In the aliases file (we run as alias_user): a local name that is itself
 * an alias is expanded here, recursively, with a visited set (a name seen
 * twice is a loop and is dropped) and a depth limit.  Every other address
 * (a local user, a virtual mailbox, a remote domain) is collected and
 * re-injected at the end as ONE new message (forward.c), so that it is
 * delivered by a posthorn-local running with the right uid.
 *
 * In a ~/.forward (we run as its owner): the owner's own name, with or
 * without '\', means "my mailbox"; files, programs and :include: run as
 * the owner; every other address is re-injected (aliases are never
 * expanded with a user's privileges).
 *
 * An :include: file is trusted as much as the aliases file or .forward
 * that names it only when nobody else could have written it: a regular
 * file owned by root or by our own uid, not group- or world-writable.
 * From any other (a list its manager keeps, a file in a shared
 * directory) only addresses are taken: its programs, files and further
 * includes fail alone with 5.7.1, since they would run with our uid
 * (alias_user's, or the .forward owner's), not the writer's.  Postfix
 * allows no commands or files from :include: files at all by default.
 *
 * Limits: MAX_DEPTH nested aliases/includes, MAX_ITEMS items in all,
 * include files up to INCLUDE_MAX octets.  The outcome is the merge of
 * every part's outcome (T over P over D; local.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/table.h"
#include "common/agent.h"
#include "local/local.h"

#define MAX_DEPTH	10
#define MAX_ITEMS	1000
#define INCLUDE_MAX	(1024 * 1024)

struct exp {
	const struct lctx *c;
	const char *self;	/* .forward owner, or NULL for aliases */
	char *visited[MAX_ITEMS];
	size_t nvisited;
	const char *cur;	/* the alias whose value is being expanded */
	char *fwd[MAX_ITEMS];
	bool fwd_own[MAX_ITEMS];	/* fwd[i] for its own mailbox only */
	size_t nfwd;
	size_t nitems;
	size_t nparts;		/* deliveries made or attempted */
	struct lresult total;
};

/* untrusted: NULL, or the path of the untrusted :include: file (or the
 * one above it) the value comes from: addresses only. */
static void expand_value(struct exp *x, const char *value, int depth,
    const char *untrusted);

static void
part(struct exp *x, const struct lresult *r)
{
	x->nparts++;
	res_merge(&x->total, r);
}

static void
fail(struct exp *x, char status, const char *dsn, const char *text,
    const char *arg)
{
	struct lresult r;

	res_set(&r, status, dsn, "%s%s", text, arg);
	part(x, &r);
}

static bool
seen(struct exp *x, char *const *v, size_t n, const char *s)
{
	size_t i;

	(void)x;
	for (i = 0; i < n; i++)
		if (strcasecmp(v[i], s) == 0)
			return true;
	return false;
}

/* Re-inject addr; own_mailbox: for that local user's own mailbox only
 * (sendmail's "\user" in an alias), marked so in the new envelope. */
static void
add_forward(struct exp *x, const char *addr, bool own_mailbox)
{
	char *d;
	size_t i;

	for (i = 0; i < x->nfwd; i++)
		if (strcasecmp(x->fwd[i], addr) == 0 &&
		    x->fwd_own[i] == own_mailbox)
			return;
	if (x->nfwd == MAX_ITEMS || (d = strdup(addr)) == NULL) {
		fail(x, 'T', "4.3.0", "alias expansion: out of memory", "");
		return;
	}
	x->fwd_own[x->nfwd] = own_mailbox;
	x->fwd[x->nfwd++] = d;
}

/* May an :include: file with this owner and mode add programs, files
 * and includes?  Only when nobody but root and us could write it. */
static bool
include_trusted(const struct stat *st)
{
	return (st->st_uid == 0 || st->st_uid == geteuid()) &&
	    (st->st_mode & 022) == 0;
}

/* Read the :include: file into text, *st its owner and mode: those of
 * the very file read.  0, or -1 (errno). */
static int
read_include(const char *path, struct buf *text, struct stat *st)
{
	int fd, rc, e;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, st) != 0)
		rc = -1;
	else if (!S_ISREG(st->st_mode)) {
		errno = S_ISDIR(st->st_mode) ? EISDIR : EINVAL;
		rc = -1;
	} else
		rc = local_read_fd(fd, INCLUDE_MAX, text);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

static void
do_include(struct exp *x, const char *path, int depth, const char *untrusted)
{
	struct buf text = BUF_INIT, value = BUF_INIT;
	struct stat st;
	const char *why;

	while (*path == ' ' || *path == '\t')
		path++;
	if (path[0] != '/') {
		fail(x, 'T', "4.3.5", ":include: needs an absolute path: ",
		    path);
		return;
	}
	if (read_include(path, &text, &st) != 0) {
		struct lresult r;
		res_errno(&r, errno, ":include:", path);
		part(x, &r);
		goto out;
	}
	if (untrusted == NULL && !include_trusted(&st)) {
		untrusted = path;
		log_msg(LOG_WARNING, "include_untrusted", "qid", x->c->qid,
		    "path", path, "reason", "not owned by root or the "
		    "delivering user, or group/world-writable: addresses "
		    "only", NULL);
	}
	if (forward_text_to_value(text.data, text.len, &value, &why) != 0)
		fail(x, 'T', "4.3.5", "bad :include: file: ", path);
	else
		expand_value(x, buf_str(&value), depth + 1, untrusted);
out:
	buf_free(&text);
	buf_free(&value);
}

/* A local name: our own mailbox (.forward), another alias, or forward
 * (to local@domain; without a domain, the recipient's domain).  name is
 * the local part unquoted, for lookups; local as written (quoted where it
 * has to be), for the address forwarded to. */
static void
do_local(struct exp *x, const char *name, const char *local,
    const char *domain, bool noalias, int depth)
{
	const struct config *cfg = x->c->cfg;
	const struct table_entry *e;
	char full[ADDR_MAX];
	const char *dom;
	char *d;
	bool own = false;

	if (x->self != NULL && strcasecmp(name, x->self) == 0) {
		struct lresult r;
		mailbox_deliver(x->c, x->c->user, x->c->home, &r);
		part(x, &r);
		return;
	}
	/* In the aliases file, "\name", and an alias's own name in its
	 * value ("bob: \bob, bob@elsewhere", "bob: bob, ..."), mean name's
	 * own mailbox, as sendmail has it: re-injected marked so, that copy
	 * is delivered as that user without aliases or .forward.  (Only
	 * trusted injectors may mark; a .forward's names go back plain.) */
	if (x->self == NULL && addr_local_key_ok(name) && noalias)
		own = true;
	else if (x->self == NULL && addr_local_key_ok(name) &&
	    (e = table_lookup(&x->c->tabs->aliases, name)) != NULL) {
		const char *outer = x->cur;

		if (x->cur != NULL && strcasecmp(name, x->cur) == 0)
			own = true;
		else if (seen(x, x->visited, x->nvisited, name)) {
			log_msg(LOG_WARNING, "alias_loop", "qid", x->c->qid,
			    "alias", name, NULL);
			return;
		} else {
			if (x->nvisited < MAX_ITEMS &&
			    (d = strdup(name)) != NULL)
				x->visited[x->nvisited++] = d;
			/* the aliases file's own value: trusted again */
			x->cur = name;
			expand_value(x, e->value, depth + 1, NULL);
			x->cur = outer;
			return;
		}
	}
	dom = domain[0] != '\0' ? domain :
	    config_is_local_domain(cfg, x->c->domain) ? x->c->domain :
	    cfg->hostname;
	if (snprintf(full, sizeof(full), "%s@%s", local, dom) >=
	    (int)sizeof(full)) {
		fail(x, 'P', "5.1.3", "address too long: ", local);
		return;
	}
	add_forward(x, full, own);
}

static void
do_address(struct exp *x, const char *item, int depth)
{
	struct addr a;
	const char *why;
	char lp[ADDR_LOCAL_MAX + 1], full[ADDR_MAX];
	bool noalias = false;

	if (item[0] == '\\') {
		noalias = true;
		item++;
	}
	/* a malformed item fails alone and for good: the others of the
	 * list are still delivered (as Postfix and sendmail do) */
	if (addr_parse_mailbox(item, strlen(item),
	    ADDR_UTF8 | ADDR_ALLOW_NODOMAIN, &a, &why) != 0) {
		fail(x, 'P', "5.1.3", "bad address in alias or .forward: ",
		    item);
		return;
	}
	if (a.domain[0] != '\0' &&
	    !config_is_local_domain(x->c->cfg, a.domain)) {
		if (addr_format(&a, full, sizeof(full)) < 0)
			return;
		add_forward(x, full, false);
		return;
	}
	if (addr_local_unquoted(&a, lp, sizeof(lp)) < 0 || lp[0] == '\0') {
		fail(x, 'P', "5.1.3", "bad address in alias or .forward: ",
		    item);
		return;
	}
	do_local(x, lp, a.local, a.domain, noalias, depth);
}

static void
expand_item(struct exp *x, const char *item, int depth, const char *untrusted)
{
	struct lresult r;
	size_t n = strlen(item);

	if (++x->nitems > MAX_ITEMS) {
		fail(x, 'P', "5.3.5", "alias expansion too large", "");
		return;
	}
	if (untrusted != NULL && (item[0] == '|' || item[0] == '/' ||
	    strncasecmp(item, ":include:", 9) == 0)) {
		res_set(&r, 'P', "5.7.1", "%s in %s refused: the :include: "
		    "file may be written by others than root and uid %lu",
		    item[0] == '|' ? "command" : item[0] == '/' ? "file" :
		    ":include:", untrusted, (unsigned long)geteuid());
		part(x, &r);
		return;
	}
	if (item[0] == '|') {
		program_deliver(x->c, item + 1, &r);
		part(x, &r);
	} else if (item[0] == '/' && item[n - 1] == '/') {
		maildir_deliver(x->c, item, &r);
		part(x, &r);
	} else if (item[0] == '/') {
		mbox_deliver(x->c, item, &r);
		part(x, &r);
	} else if (strncasecmp(item, ":include:", 9) == 0)
		do_include(x, item + 9, depth, untrusted);
	else
		do_address(x, item, depth);
}

static void
expand_value(struct exp *x, const char *value, int depth,
    const char *untrusted)
{
	char **items = NULL;
	size_t n = 0, i;
	const char *why;

	if (depth > MAX_DEPTH) {
		fail(x, 'P', "5.4.6", "alias nesting deeper than 10 levels",
		    "");
		return;
	}
	if (alias_split(value, &items, &n, &why) != 0) {
		fail(x, 'T', "4.3.5", "malformed alias or .forward: ", why);
		return;
	}
	for (i = 0; i < n; i++)
		expand_item(x, items[i], depth, untrusted);
	alias_items_free(items, n);
}

void
expand_deliver(const struct lctx *c, const char *value, const char *key,
    bool in_forward, struct lresult *r)
{
	static struct exp x;	/* large: keep it off the stack */
	size_t i;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.self = in_forward ? key : NULL;
	x.cur = in_forward ? NULL : key;
	if ((x.visited[0] = strdup(key)) != NULL)
		x.nvisited = 1;
	expand_value(&x, value, 0, NULL);
	if (x.nfwd > 0) {
		struct lresult fr;
		forward_deliver(c, x.fwd, x.fwd_own, x.nfwd, &fr);
		part(&x, &fr);
	}
	if (x.nparts == 0)
		res_set(&x.total, 'P', "5.4.6", "alias %s loops back to "
		    "itself or expands to nothing", key);
	/* sent on to more than one place: "expanded" in a success notice
	 * (RFC 3464 2.3.3); the forwarding counts once in nparts */
	if (x.total.status == 'D' &&
	    x.nparts - (x.nfwd > 0 ? 1 : 0) + x.nfwd > 1) {
		char text[sizeof(x.total.text)];

		snprintf(text, sizeof(text), "%s", x.total.text);
		res_set(&x.total, 'D', x.total.dsn, "%s%zu destinations, "
		    "%s", AGENT_TEXT_EXPANDED, x.nparts - (x.nfwd > 0 ? 1 :
		    0) + x.nfwd, text);
	}
	*r = x.total;
	for (i = 0; i < x.nvisited; i++)
		free(x.visited[i]);
	for (i = 0; i < x.nfwd; i++)
		free(x.fwd[i]);
}

int
forward_text_to_value(const char *text, size_t len, struct buf *out,
    const char **why)
{
	size_t i = 0, s, e;

	buf_reset(out);
	if (len == 0)
		return 0;
	if (memchr(text, '\0', len) != NULL) {
		*why = "NUL octet";
		return -1;
	}
	while (i < len) {
		s = i;
		while (i < len && text[i] != '\n')
			i++;
		e = i++;
		while (s < e && (text[s] == ' ' || text[s] == '\t' ||
		    text[s] == ','))
			s++;
		while (e > s && (text[e - 1] == ' ' || text[e - 1] == '\t' ||
		    text[e - 1] == '\r' || text[e - 1] == ','))
			e--;
		if (s == e || text[s] == '#')
			continue;
		if ((out->len > 0 && buf_append_str(out, ", ") == -1) ||
		    buf_append(out, text + s, e - s) == -1) {
			*why = "out of memory";
			return -1;
		}
	}
	return 0;
}

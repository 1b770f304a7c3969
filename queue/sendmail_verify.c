/*
 * sendmail_verify.c — sendmail -bv: say, for each address given, what
 * posthorn would do with mail for it, without sending anything: the
 * local lookup smtpd and posthorn-local make (relocated, virtual
 * mailbox, alias, system user; root and the posthorn service accounts
 * refused), or "remote" for any other domain.  An alias is shown with its
 * value as written, not expanded (its items are looked up when the mail
 * is delivered, as alias_user); a user's ~/.forward is not read.
 *
 * Trusts: its configuration and tables (read as the calling user, as
 * smtpd would read them); the arguments are parsed like sendmail's
 * recipients (sendmail_msg.c) and only ever printed after that.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "common/localuser.h"
#include "common/log.h"
#include "queue/sendmail_msg.h"
#include "queue/sendmail_verify.h"

/* The first failure's code wins; later ones only print. */
static void
worse(int *rc, int code)
{
	if (*rc == 0)
		*rc = code;
}

static void
verify_local(const struct config *cfg, const struct local_tables *t,
    const char *addr, int *rc, FILE *out)
{
	struct local_target tg;
	struct buf err = BUF_INIT;
	const char *moved, *service;
	int r;

	moved = local_relocated(t, addr);
	if (moved != NULL) {
		fprintf(out, "%s: undeliverable: user has moved to <%s> "
		    "(5.1.6)\n", addr, moved);
		worse(rc, EX_NOUSER);
		return;
	}
	r = local_resolve(cfg, t, addr, &tg, &err);
	if (r < 0) {
		fprintf(out, "%s: lookup failed (4.3.0): %s\n", addr,
		    buf_str(&err));
		worse(rc, EX_TEMPFAIL);
	} else if (r == 0) {
		fprintf(out, "%s: undeliverable: no such user here (5.1.1)\n",
		    addr);
		worse(rc, EX_NOUSER);
	} else if (tg.kind == LOCAL_ALIAS) {
		fprintf(out, "%s: deliverable: alias %s: %s\n", addr, tg.user,
		    tg.value);
	} else if (tg.kind == LOCAL_MAILBOX) {
		fprintf(out, "%s: deliverable: mailbox %s\n", addr, tg.path);
	} else if (tg.uid == 0 ||
	    (service = local_service_account(cfg, tg.uid)) != NULL) {
		fprintf(out, "%s: undeliverable: %s gets no mail (5.7.1); "
		    "alias it to a person\n", addr, tg.uid == 0 ? "root" :
		    service);
		worse(rc, EX_NOUSER);
	} else {
		fprintf(out, "%s: deliverable: local user %s (home %s)\n",
		    addr, tg.user, tg.home);
	}
	buf_free(&err);
}

int
sendmail_verify(const struct config *cfg, char *const *args, int n,
    FILE *out)
{
	struct local_tables t;
	struct sm_rcpts rcpts;
	struct buf err = BUF_INIT;
	const char *why, *at;
	size_t i;
	int k, rc = 0;

	if (local_tables_load(cfg, &t, &err) != 0) {
		log_msg(LOG_ERR, "error", "reason", "cannot read the tables",
		    "detail", buf_str(&err), (char *)NULL);
		buf_free(&err);
		return EX_TEMPFAIL;
	}
	buf_free(&err);
	for (k = 0; k < n; k++) {
		sm_rcpts_init(&rcpts);
		why = NULL;
		if (sm_addrlist_parse(args[k], strlen(args[k]), cfg->hostname,
		    &rcpts, &why) == -1 || rcpts.l.n == 0) {
			fprintf(out, "%s: invalid address: %s\n", args[k],
			    why != NULL ? why : "no address");
			worse(&rc, EX_DATAERR);
		}
		for (i = 0; i < rcpts.l.n; i++) {
			const char *a = rcpts.l.v[i];

			at = strrchr(a, '@');
			if (at != NULL && config_is_local_domain(cfg, at + 1))
				verify_local(cfg, &t, a, &rc, out);
			else
				fprintf(out, "%s: deliverable: remote, domain "
				    "%s\n", a, at != NULL ? at + 1 : "?");
		}
		sm_rcpts_free(&rcpts);
	}
	local_tables_free(&t);
	if (fflush(out) == EOF && rc == 0)
		rc = EX_IOERR;
	return rc;
}

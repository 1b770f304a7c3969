/*
 * qmain.c — posthorn-queue: the injector.  Started with one connection on
 * fd 0/1 (systemd Accept=yes, inetd), or with a listening unix socket in
 * LISTEN_FDS, in which case worker processes serve the connections, each
 * up to MAX_USE of them one after another (common/forkserver.c).  Writes
 * each message durably into the spool (queue/SPOOL.md) and wakes the
 * scheduler.  Trusts: its configuration and the spool directory; nothing
 * from its clients but their uid (SO_PEERCRED), which decides whether
 * their client address, HELO, AUTH and protocol are believed (inject.c).
 * Run as root, it first becomes the spool's owner.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "common/config.h"
#include "common/forkserver.h"
#include "common/log.h"
#include "queue/queue.h"
#include "queue/spool.h"

#define MAX_USE 1000	/* injections per worker process (forkserver.h) */
#define MAX_CHILDREN 256	/* injections at once, as posthorn-run's limit */
#define MAX_PER_USER 32		/* of them from one ordinary local user: the
				   rest stay for posthorn-smtpd and others */
#define USER_TIMEOUT_MS (60 * 1000)	/* an ordinary user's client waits
				   this long at most for its next octets:
				   sendmail reads the whole message before it
				   connects */

/* The options for one connection from uid (peer_uid()): an ordinary
 * user's is not held open for the time an SMTP client may take. */
static struct inject_opts
opts_for(const struct inject_opts *o, int64_t uid)
{
	struct inject_opts mine = *o;

	mine.peer_uid = uid;
	if (!identity_trusted(&mine) && mine.timeout_ms > USER_TIMEOUT_MS)
		mine.timeout_ms = USER_TIMEOUT_MS;
	return mine;
}

static int
injection_child(int conn, void *arg)
{
	struct inject_opts mine = opts_for(arg, peer_uid(conn));

	return inject_serve(&mine, conn, conn) == 0 ? 0 : 1;
}

/* forkserver_per_uid(): posthorn's own programs are not limited. */
static bool
uid_trusted(uid_t uid, void *arg)
{
	struct inject_opts mine = *(const struct inject_opts *)arg;

	mine.peer_uid = (int64_t)uid;
	return identity_trusted(&mine);
}

/* alias_user's uid (looked up once: a change of that user needs a
 * restart, as for posthorn-spawn), or -1. */
static int64_t
alias_uid(const struct config *cfg)
{
	struct passwd *pw = getpwnam(cfg->alias_user);

	return pw != NULL ? (int64_t)pw->pw_uid : -1;
}

/* A user's uid, or -1 when there is none (or it is root: root is
 * trusted anyway, and "nobody" as root would be a broken system). */
static int64_t
uid_of(const char *name)
{
	struct passwd *pw = getpwnam(name);

	return pw != NULL && pw->pw_uid != 0 ? (int64_t)pw->pw_uid : -1;
}

/*
 * The uid posthorn-smtpd sessions inject as, whose client address,
 * HELO, AUTH identity and protocol the queue believes (inject.c
 * identity_trusted()): the user posthorn-smtpd, which posthorn-smtpd
 * started as root becomes, and which the systemd units run it as.
 * Without that user, posthorn-run started as root runs the sessions as
 * nobody (queue/run_proc.c smtpd_identity(); keep the two in step), and
 * starts us as root too: then nobody's uid.  Otherwise -1 (posthorn-run
 * run by an ordinary user runs everything as that user, our own uid).
 */
static int64_t
smtpd_uid(bool started_as_root)
{
	int64_t uid = uid_of("posthorn-smtpd");

	if (uid == -1 && started_as_root)
		uid = uid_of("nobody");
	return uid;
}

/*
 * The uid posthorn-bounce injects notices as, when it is not ours: the
 * scheduler runs as the spool's owner (our uid) and starts it, but a
 * scheduler that stayed root (a root-owned spool: posthorn-run as root)
 * starts it as root, and then it becomes nobody (bounce/job.c
 * bounce_drop_root(), BOUNCE_ROOT_USER).  -1 when we are not root.
 */
static int64_t
bounce_uid(void)
{
	return geteuid() == 0 ? uid_of("nobody") : -1;
}

/*
 * The idle limit per frame.  posthorn-smtpd passes a message on in pieces
 * of 16 KiB or more, so a client that stays within smtp_timeout for each
 * line may send us nothing for as long as its whole session may last
 * (smtp_session_timeout; 0: a day), plus slack; at most a day (never
 * overflowing an int of milliseconds).  Ordinary users get far less
 * (opts_for()).
 */
static int
frame_idle_ms(const struct config *cfg)
{
	uint64_t idle = cfg->smtp_session_timeout > 0 ?
	    cfg->smtp_session_timeout : 86400;

	if (cfg->smtp_timeout > idle)
		idle = cfg->smtp_timeout;
	if (idle > 86400)
		idle = 86400;
	return (int)(idle + 300) * 1000;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	struct inject_opts o;
	const char *dir = NULL;
	bool started_as_root;
	int ch, n, rc;

	log_init("posthorn-queue");
	while ((ch = getopt(argc, argv, "C:v")) != -1) {
		if (ch == 'C')
			dir = optarg;
		else if (ch == 'v')
			log_set_verbose(1);
		else
			die(64, "usage", "posthorn-queue [-v] [-C dir]");
	}
	if (config_load(config_dir(dir), &cfg, &err) == -1)
		die(78, "configuration error", buf_str(&err));
	started_as_root = geteuid() == 0;
	if (spool_drop_privileges(cfg.spool) == -1)
		die(75, "cannot drop privileges", strerror(errno));
	if (spool_mkdirs(cfg.spool) == -1)
		die(75, "cannot create spool directories", strerror(errno));
	memset(&o, 0, sizeof(o));
	o.spool = cfg.spool;
	o.max_message_size = cfg.max_message_size;
	o.max_recipients = cfg.max_recipients;
	o.alias_uid = alias_uid(&cfg);
	o.smtpd_uid = smtpd_uid(started_as_root);
	o.bounce_uid = bounce_uid();
	o.timeout_ms = frame_idle_ms(&cfg);
	signal(SIGPIPE, SIG_IGN);
	n = sd_listen_fds(1);
	if (n > 1)
		die(64, "expected one listening socket", "");
	if (n == 1) {
		int lfd = SD_LISTEN_FDS_START;

		o.spare_file = true;	/* workers serve many injections */
		forkserver_at_worker_exit(inject_drop_spares);
		forkserver_per_uid(MAX_PER_USER, uid_trusted, &o);
		rc = forkserver_run(&lfd, 1, MAX_CHILDREN, MAX_USE,
		    injection_child, &o) == 0 ? 0 : 75;
	} else {
		struct inject_opts mine = opts_for(&o, peer_uid(0));

		rc = inject_serve(&mine, 0, 1) == 0 ? 0 : 1;
	}
	config_free(&cfg);
	return rc;
}

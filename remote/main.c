/*
 * posthorn-remote — remote delivery agent: SMTP and LMTP client.
 *
 * Started by the scheduler with fd 3 the control socket (common/agent.h,
 * queue/PROTOCOL.md).  Reads jobs until EOF; each job is one message for
 * one destination domain; reports one result per recipient.  Started as
 * root it becomes the user posthorn-remote before reading anything (or,
 * when that user does not exist — posthorn-run started by root on a host
 * where posthorn is not installed — the user nobody, with a warning); it
 * never runs as root.  Trusts nothing it reads:
 * jobs are validated by agent.c, DNS answers by dns.c, peers by smtp.c.
 *
 * Usage: posthorn-remote [-v] [-C DIR]
 * Exit: 0 at EOF, 1 on a control protocol error, 2 usage, 78 bad config,
 * 71 when it cannot drop privileges.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/agent.h"
#include "common/config.h"
#include "common/log.h"
#include "remote/deliver.h"

#define REMOTE_USER	"posthorn-remote"
#define IDLE_MS		(30 * 1000)	/* keep an idle connection this long */

static void
drop_privileges(void)
{
	struct passwd *pw;

	if (getuid() != 0 && geteuid() != 0)
		return;
	errno = 0;
	if ((pw = getpwnam(REMOTE_USER)) == NULL) {
		if (errno != 0)
			die(71, "cannot look up user " REMOTE_USER,
			    "password database error");
		if ((pw = getpwnam("nobody")) == NULL)
			die(71, "started as root and neither " REMOTE_USER
			    " nor nobody exists", "");
		log_msg(LOG_WARNING, "privileges", "user", "nobody", "reason",
		    "started as root and user " REMOTE_USER " does not exist",
		    (char *)NULL);
	}
	if (pw->pw_uid == 0)
		die(71, "the user to run as must not be root", pw->pw_name);
	if (setgroups(0, NULL) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		die(71, "cannot switch to user", pw->pw_name);
	if (setuid(0) == 0 || seteuid(0) == 0)
		die(71, "could regain root after dropping privileges", "");
}

static void
usage(void)
{
	fprintf(stderr, "usage: posthorn-remote [-v] [-C DIR]\n");
	exit(2);
}

/* Serve jobs until EOF.  Returns the exit code. */
static int
serve(struct remote *r, struct stream *ctl)
{
	struct agent_job job;
	const char *why = "";
	int rc;

	for (;;) {
		if (r->have_conn && stream_wait_readable(ctl, IDLE_MS) == 0)
			remote_idle(r);
		rc = agent_job_read(ctl, &job, &why);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			log_msg(LOG_ERR, "protocol-error", "reason", why, (char *)NULL);
			return 1;
		}
		rc = remote_job(r, ctl, &job);
		agent_job_free(&job);
		if (rc < 0) {
			log_msg(LOG_ERR, "control-lost", "reason",
			    "cannot report to the scheduler", (char *)NULL);
			return 1;
		}
	}
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	struct stream ctl;
	struct remote r;
	const char *dir = NULL;
	int ch, rc;

	log_init("posthorn-remote");
	/* not dumpable: another process of the same uid (every remote
	 * agent, and nobody's other processes where that stands in) can
	 * neither ptrace this one nor read its memory through /proc */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		die(75, "prctl", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt(argc, argv, "vC:")) != -1) {
		switch (ch) {
		case 'v':
			log_set_verbose(1);
			break;
		case 'C':
			dir = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	drop_privileges();
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (config_load(config_dir(dir), &cfg, &err) < 0)
		die(78, "configuration error", buf_str(&err));
	if (remote_init(&r, &cfg, &err) < 0)
		die(78, "setup failed", buf_str(&err));
	if (stream_init(&ctl, AGENT_FD, AGENT_FD, 0) < 0)
		die(71, "out of memory", "");
	stream_enable_fds(&ctl);
	rc = serve(&r, &ctl);
	remote_free(&r);
	stream_free(&ctl);
	config_free(&cfg);
	buf_free(&err);
	return rc;
}

/*
 * posthorn-bounce — builds delivery status notifications and injects them
 * through posthorn-queue.  Started by the scheduler (posthorn-send) with
 * fd 3 the control socket (queue/PROTOCOL.md §3); reads jobs until EOF.
 * Runs as the queue's user and never needs more: it only reads the
 * descriptors it is given and connects to the queue socket, so it sets
 * no_new_privs, and started as root it becomes "nobody" before the first
 * job when nobody can reach the queue (bounce_drop_root()).  Trusts the configuration;
 * everything from the control socket and the message is checked by
 * agent_job_read() and the builder.
 *
 *   posthorn-bounce [-v] [-C dir]
 *
 * Exit: 0 at EOF, 75 when the configuration cannot be loaded, 71 when
 * root cannot be dropped, 1 on a protocol error (the scheduler retries
 * the job's recipients).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "bounce/job.h"
#include "common/log.h"

#define CTL_TIMEOUT_MS	(10 * 60 * 1000)

int
main(int argc, char **argv)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	struct stream ctl;
	struct agent_job job;
	const char *dir = NULL, *why = NULL;
	int c, r;

	log_init("posthorn-bounce");
	/* not dumpable: another process of the same uid (the
	 * scheduler's user, or nobody under posthorn-run) can
	 * neither ptrace this one nor read its memory through /proc */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		die(75, "prctl", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		die(75, "no_new_privs", "prctl failed");
	while ((c = getopt(argc, argv, "vC:")) != -1) {
		if (c == 'v')
			log_set_verbose(1);
		else if (c == 'C')
			dir = optarg;
		else
			die(64, "usage", "posthorn-bounce [-v] [-C dir]");
	}
	if (config_load(config_dir(dir), &cfg, &err) == -1)
		die(75, "config", buf_str(&err));
	if ((r = bounce_drop_root(cfg.queue_socket, &why)) == -1)
		die(71, "privileges", why);
	if (r == 1)
		log_msg(LOG_WARNING, "privileges", "reason", why, NULL);
	if (stream_init(&ctl, AGENT_FD, AGENT_FD, CTL_TIMEOUT_MS) == -1)
		die(75, "control socket", "cannot set up fd 3");
	while ((r = agent_job_read(&ctl, &job, &why)) == 1) {
		/* a delivery job here is the scheduler's mistake: taking it
		 * for a failure would tell senders their mail failed */
		if (job.kind == JOB_DELIVER) {
			agent_job_free(&job);
			die(1, "protocol", "a delivery job sent to the bounce "
			    "agent");
		}
		r = bounce_job(&cfg, &ctl, &job);
		agent_job_free(&job);
		if (r == -1)
			die(1, "control socket", "cannot send results");
	}
	if (r == -1)
		die(1, "protocol", why);
	stream_free(&ctl);
	config_free(&cfg);
	return 0;
}

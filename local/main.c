/*
 * posthorn-local — local delivery agent.  Started by the scheduler (or by
 * the root spawner, posthorn-spawn, with the recipient's uid already set)
 * with fd 3 the control socket (queue/PROTOCOL.md section 3).  Reads jobs
 * until EOF; for each recipient delivers (deliver.c) and reports D/T/P
 * with an enhanced status code, then "done".
 *
 *   posthorn-local [-v] [-C DIR]
 *
 * Started by posthorn-spawn, it delivers only to the recipient the
 * spawner chose its uid for ($POSTHORN_SPAWN_RCPT); any other recipient
 * in a job is deferred with 4.3.5 (the scheduler that writes jobs is less
 * trusted than the spawner).  The scheduler may give one process several
 * jobs (PROTOCOL.md §3); before each, the configuration and tables are
 * read again if any of their files changed, so a job sees what a new
 * process would.
 * Refuses to work as root: every recipient is deferred with 4.3.0.  A
 * broken configuration defers every recipient with 4.3.5 (mail waits for
 * the administrator instead of bouncing).  Exit 0 at EOF, 1 on a protocol
 * error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "common/agent.h"
#include "common/filesig.h"
#include "common/log.h"
#include "local/local.h"

#define CTL_TIMEOUT_MS	(10 * 60 * 1000)

struct setup {
	struct config cfg;
	struct local_tables tabs;
	struct buf err;		/* empty when the configuration is usable */
	const char *bound;	/* the spawner's recipient, or NULL */
	bool bound_mailbox;	/* ... chosen for its own mailbox only */
	bool cached;		/* sig says which files cfg and tabs came from */
	struct file_sig sig[4];	/* posthorn.conf, mailboxes, aliases,
				   relocated: stat'ed before they were read */
};

static void
log_result(const struct agent_job *job, size_t i, const struct lresult *r)
{
	struct logline l;
	const char *st = r->status == 'D' ? "sent" :
	    r->status == 'T' ? "deferred" : "bounced";

	log_begin(&l, r->status == 'D' ? LOG_INFO : LOG_WARNING, "delivery");
	log_add(&l, "qid", job->env.qid);
	log_addf(&l, "from", "<%s>", job->env.sender != NULL ?
	    job->env.sender : "");
	log_addf(&l, "to", "<%s>", job->env.rcpts[i].addr);
	log_add(&l, "status", st);
	log_add(&l, "relay", "local");
	log_addf(&l, "delay", "%llds", job->env.arrival > 0 ?
	    (long long)(time(NULL) - job->env.arrival) : 0LL);
	log_add(&l, "dsn", r->dsn);
	log_add(&l, "detail", r->text);
	log_end(&l);
}

static void
run_job(struct setup *s, struct stream *ctl, struct agent_job *job)
{
	struct lresult r;
	struct lctx c;
	size_t i;

	for (i = 0; i < job->env.nrcpts; i++) {
		memset(&c, 0, sizeof(c));
		c.cfg = &s->cfg;
		c.tabs = &s->tabs;
		c.qid = job->env.qid;
		c.sender = job->env.sender != NULL ? job->env.sender : "";
		c.rcpt = job->env.rcpts[i].addr;
		c.notify = job->env.rcpts[i].notify;
		c.orcpt = job->env.rcpts[i].orcpt;
		c.own_mailbox = job->env.rcpts[i].own_mailbox;
		c.ret = job->env.ret;
		c.envid = job->env.envid;
		c.body = job->env.body;
		c.smtputf8 = job->env.smtputf8;
		c.msgfd = job->msgfd;
		c.msgsize = job->msgsize;
		c.spawned = s->bound != NULL;
		if (s->err.len > 0)
			res_set(&r, 'T', "4.3.5", "configuration error: %s",
			    buf_str(&s->err));
		else if (job->kind != JOB_DELIVER)
			res_set(&r, 'T', "4.3.5", "posthorn-local got a job "
			    "of kind %d; it only delivers", (int)job->kind);
		else if (geteuid() == 0 || getuid() == 0)
			res_set(&r, 'T', "4.3.0", "posthorn-local refuses to "
			    "run as root (start it through posthorn-spawn)");
		else if (s->bound != NULL && (strcmp(c.rcpt, s->bound) != 0 ||
		    c.own_mailbox != s->bound_mailbox))
			res_set(&r, 'T', "4.3.5", "posthorn-spawn started this "
			    "agent for another recipient; not delivering");
		else
			local_deliver(&c, &r);
		log_result(job, i, &r);
		if (agent_report(ctl, job, i, r.status, r.dsn, r.text,
		    "local") == -1)
			die(1, "control socket write failed", "");
	}
	if (agent_job_done(ctl) == -1)
		die(1, "control socket write failed", "");
}

static bool
sig_cacheable(const struct file_sig *sig)
{
	return sig->err == 0 || sig->err == ENOENT;
}

/* The signatures of the table files cfg names (slots 1-3). */
static bool
table_sigs(const struct config *cfg, struct file_sig sig[4])
{
	const char *paths[3] = { cfg->mailboxes, cfg->aliases,
	    cfg->relocated };
	bool ok = true;

	for (int i = 0; i < 3; i++) {
		file_sig_get(paths[i], &sig[i + 1]);
		ok = ok && sig_cacheable(&sig[i + 1]);
	}
	return ok;
}

/* Read the configuration and the tables (again): s->err says why not.
 * Again, nothing is read when none of the files changed since the last
 * good load (filesig.h): a job sees what a new process would. */
static void
setup_load(struct setup *s, const char *dir, bool again)
{
	struct file_sig now[4];
	char conf[4200];
	bool cacheable;

	snprintf(conf, sizeof(conf), "%s/posthorn.conf", dir);
	file_sig_get(conf, &now[0]);
	if (again && s->cached && s->err.len == 0 &&
	    file_sig_same(&now[0], &s->sig[0])) {
		bool same = table_sigs(&s->cfg, now);

		for (int i = 1; i < 4; i++)
			same = same && file_sig_same(&now[i], &s->sig[i]);
		if (same)
			return;
	}
	if (again) {
		if (s->err.len == 0) {
			local_tables_free(&s->tabs);
			config_free(&s->cfg);
		}
		buf_reset(&s->err);
	}
	s->cached = false;
	cacheable = sig_cacheable(&now[0]);
	if (config_load(dir, &s->cfg, &s->err) == 0) {
		cacheable = table_sigs(&s->cfg, now) && cacheable;
		if (local_tables_load(&s->cfg, &s->tabs, &s->err) != 0)
			config_free(&s->cfg);
	}
	if (s->err.len > 0)
		log_msg(LOG_ERR, "config_error", "detail", buf_str(&s->err),
		    NULL);
	else if (cacheable) {
		memcpy(s->sig, now, sizeof(now));
		s->cached = true;
	}
}

int
main(int argc, char **argv)
{
	static struct setup s;
	struct stream ctl;
	struct agent_job job;
	const char *dir = NULL, *why = "";
	int ch, rc;
	unsigned jobs = 0;

	log_init("posthorn-local");
	/* not dumpable: another process of the same uid (every alias
	 * delivery and |program runs as alias_user) can
	 * neither ptrace this one nor read its memory through /proc */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		die(75, "prctl", strerror(errno));
	while ((ch = getopt(argc, argv, "C:v")) != -1) {
		if (ch == 'C')
			dir = optarg;
		else if (ch == 'v')
			log_set_verbose(1);
		else
			die(64, "usage", "posthorn-local [-v] [-C DIR]");
	}
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit (RLIMIT_FSIZE, LimitFSIZE=) makes a write fail
	 * with EFBIG, which we report and undo; SIGXFSZ would kill us in
	 * the middle of an mbox append */
	signal(SIGXFSZ, SIG_IGN);
	s.bound = getenv(SPAWN_RCPT_ENV);
	s.bound_mailbox = s.bound != NULL && getenv(SPAWN_MAILBOX_ENV) != NULL &&
	    strcmp(getenv(SPAWN_MAILBOX_ENV), "1") == 0;
	buf_init(&s.err);
	dir = config_dir(dir);
	setup_load(&s, dir, false);
	if (stream_init(&ctl, AGENT_FD, AGENT_FD, CTL_TIMEOUT_MS) != 0)
		die(1, "no control socket on fd 3", "");
	stream_enable_fds(&ctl);
	while ((rc = agent_job_read(&ctl, &job, &why)) == 1) {
		if (jobs++ > 0)
			setup_load(&s, dir, true);
		run_job(&s, &ctl, &job);
		agent_job_free(&job);
	}
	if (rc < 0)
		die(1, "protocol error", why);
	stream_free(&ctl);
	return 0;
}

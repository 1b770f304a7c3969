/*
 * test_queue_fakeagent.c — a fake delivery agent for the queue's
 * end-to-end tests (built by queue/module.mk as build/queue-test/fakeagent
 * and installed under the names posthorn-local, posthorn-remote and
 * posthorn-bounce in a test's POSTHORN_LIBEXEC).  It speaks the real agent
 * protocol through common/agent.c and decides by the recipient's local
 * part:
 *   tempfail...      T 4.4.1        tempfailonce...  T once, then D
 *   permfail...      P 5.1.1        crash...         exit 3 without a result
 *   hang...          sleep 600 s    garbage...       junk on fd 3, exit
 *   slow...          D after 1 s    anything else    D 2.0.0
 * Bounce jobs are always answered D.  Every result is appended as one line
 * to $FAKE_AGENT_DIR/log:
 *   AGENT KIND QID RCPT INDEX STATUS SIZE DOMAIN DSN PID
 * (DSN: the recipient's last status code the scheduler sent, or "-")
 * and each delivered message is copied to $FAKE_AGENT_DIR/msg/QID.INDEX.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/agent.h"
#include "common/log.h"

static const char *dir;

/* The message is the first msgsize octets of msgfd (common/agent.h). */
static void
copy_msg(int msgfd, uint64_t msgsize, const char *qid, unsigned idx,
    off_t *size)
{
	char path[4096], b[65536];
	uint64_t left = msgsize;
	ssize_t n;
	int out;

	*size = 0;
	snprintf(path, sizeof(path), "%s/msg/%s.%u", dir, qid, idx);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (lseek(msgfd, 0, SEEK_SET) != 0)
		exit(4);
	while (left > 0 && (n = read(msgfd, b, left < sizeof(b) ?
	    (size_t)left : sizeof(b))) > 0) {
		left -= (uint64_t)n;
		*size += n;
		if (out != -1 && write(out, b, (size_t)n) != n)
			exit(4);
	}
	if (out != -1)
		close(out);
}

static int
once(const char *qid, unsigned idx)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/once.%s.%u", dir, qid, idx);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd == -1)
		return 0;
	close(fd);
	return 1;
}

static void
log_line(const char *agent, const struct agent_job *j, size_t i, char st,
    off_t size)
{
	char path[4096], line[1024];
	int fd, n;

	snprintf(path, sizeof(path), "%s/log", dir);
	n = snprintf(line, sizeof(line), "%s %d %s %s %u %c %lld %s %s %ld\n",
	    agent,
	    (int)j->kind, j->env.qid, j->env.rcpts[i].addr,
	    (unsigned)j->rcpt_index[i], st, (long long)size,
	    j->domain[0] != '\0' ? j->domain : "-",
	    j->env.rcpts[i].dsn[0] != '\0' ? j->env.rcpts[i].dsn : "-",
	    (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd == -1 || n < 0 || write(fd, line, (size_t)n) != n)
		exit(5);
	close(fd);
}

static void
one(struct stream *ctl, const char *agent, const struct agent_job *j,
    size_t i)
{
	const char *a = j->env.rcpts[i].addr;
	unsigned idx = (unsigned)j->rcpt_index[i];
	off_t size = 0;
	char st = 'D';

	if (j->kind != JOB_DELIVER) {
		log_line(agent, j, i, 'D', 0);
		agent_report(ctl, j, i, 'D', "2.0.0", "notice queued", NULL);
		return;
	}
	if (strncmp(a, "crash", 5) == 0) {
		log_line(agent, j, i, 'C', 0);
		exit(3);
	}
	if (strncmp(a, "hang", 4) == 0)
		sleep(600);
	if (strncmp(a, "slow", 4) == 0)
		sleep(1);
	if (strncmp(a, "garbage", 7) == 0) {
		log_line(agent, j, i, 'G', 0);
		if (write(AGENT_FD, "junk!", 5) != 5)
			exit(6);
		exit(0);
	}
	if (strncmp(a, "tempfailonce", 12) == 0)
		st = once(j->env.qid, idx) ? 'T' : 'D';
	else if (strncmp(a, "tempfail", 8) == 0)
		st = 'T';
	else if (strncmp(a, "permfail", 8) == 0)
		st = 'P';
	if (st == 'D')
		copy_msg(j->msgfd, j->env.size, j->env.qid, idx, &size);
	log_line(agent, j, i, st, size);
	if (st == 'D')
		agent_report(ctl, j, i, 'D', "2.0.0", "delivered\nfake",
		    "fake.example[127.0.0.1]");
	else if (st == 'T')
		agent_report(ctl, j, i, 'T', "4.4.1", "fake temporary failure",
		    NULL);
	else
		agent_report(ctl, j, i, 'P', "5.1.1", "fake permanent failure",
		    NULL);
}

int
main(int argc, char **argv)
{
	struct stream ctl;
	struct agent_job j;
	const char *why = "", *agent;
	size_t i;
	int r;

	(void)argc;
	agent = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 :
	    argv[0];
	dir = getenv("FAKE_AGENT_DIR");
	if (dir == NULL)
		return 2;
	log_init(agent);
	if (stream_init(&ctl, AGENT_FD, AGENT_FD, 30000) == -1)
		return 2;
	while ((r = agent_job_read(&ctl, &j, &why)) == 1) {
		for (i = 0; i < j.env.nrcpts; i++)
			one(&ctl, agent, &j, i);
		agent_job_done(&ctl);
		agent_job_free(&j);
	}
	if (r == -1) {
		log_msg(LOG_ERR, "fake_agent", "reason", why, NULL);
		return 1;
	}
	stream_free(&ctl);
	return 0;
}

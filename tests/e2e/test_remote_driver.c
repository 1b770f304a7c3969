/*
 * test_remote_driver.c — a stand-in scheduler for the posthorn-remote
 * end-to-end tests (compiled by tests/e2e/test_remote_lib.py with cc
 * against build/common/lib.a; not a test itself, so not executable).
 *
 *   remote-driver JOBFILE -- PROG [ARGS...]
 *
 * Starts PROG with fd 3 one end of a socketpair (fds 0/1 /dev/null, fd 2
 * inherited), sends the jobs of JOBFILE one after another on the same
 * connection (agent_job_send; the next job only after the previous one's
 * done frame, as the scheduler does), prints "J n" before each job's
 * results, each result as "R index status dsn relay text" (relay "-" when
 * empty), "Z" after each done frame, then closes the socket (EOF), reaps
 * PROG and prints "exit N".  JOBFILE lines:
 *
 *   job DOMAIN MSGFILE          starts a job
 *   from SENDER                 "<>" for the null sender
 *   rcpt ADDR [NOTIFY=list] [ORCPT=type;xtext]
 *   opt smtputf8 | 8bit | ret=full | ret=hdrs | envid=TEXT
 *   opt size=N                  the envelope's size: the message is
 *                               MSGFILE's first N octets (default: the
 *                               whole file)
 *   sleep SECONDS               pause before the next job
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/agent.h"
#include "common/frame.h"
#include "common/qid.h"

#define MAXJOBS 16
#define MAXRCPT 64

struct job {
	char domain[256];
	char msg[1024];
	struct envelope env;
	uint32_t idx[MAXRCPT];
	unsigned sleep_before;
	int sized;		/* env.size came from "opt size=N" */
};

static void
die2(const char *what, const char *arg)
{
	fprintf(stderr, "remote-driver: %s %s\n", what, arg);
	exit(2);
}

static void
add_rcpt(struct job *j, char *args)
{
	char *addr = strtok(args, " "), *p;
	unsigned notify = 0;
	const char *orcpt = NULL;
	long k;

	if (addr == NULL)
		die2("rcpt without address", "");
	while ((p = strtok(NULL, " ")) != NULL) {
		if (strncmp(p, "NOTIFY=", 7) == 0) {
			if (notify_parse(p + 7, &notify) != 0)
				die2("bad NOTIFY", p);
		} else if (strncmp(p, "ORCPT=", 6) == 0)
			orcpt = p + 6;
		else
			die2("bad rcpt parameter", p);
	}
	if ((k = envelope_add_rcpt(&j->env, addr, notify, orcpt)) < 0 ||
	    k >= MAXRCPT)
		die2("bad recipient", addr);
	j->idx[k] = (uint32_t)(k * 10 + 1);	/* not just 0..n-1 */
}

static void
add_opt(struct job *j, const char *o)
{
	if (strcmp(o, "smtputf8") == 0)
		j->env.smtputf8 = true;
	else if (strcmp(o, "8bit") == 0)
		j->env.body = BODY_8BITMIME;
	else if (strcmp(o, "ret=full") == 0)
		j->env.ret = RET_FULL;
	else if (strcmp(o, "ret=hdrs") == 0)
		j->env.ret = RET_HDRS;
	else if (strncmp(o, "size=", 5) == 0) {
		j->env.size = strtoull(o + 5, NULL, 10);
		j->sized = 1;
	} else if (strncmp(o, "envid=", 6) == 0) {
		if (envelope_set_str(&j->env.envid, o + 6) != 0)
			die2("bad envid", o);
	} else
		die2("unknown opt", o);
}

static size_t
load(const char *path, struct job *jobs)
{
	char line[2048], qid[QID_LEN + 1], *arg;
	FILE *f = fopen(path, "r");
	struct job *j = NULL;
	size_t n = 0;
	unsigned pause = 0;

	if (f == NULL)
		die2("cannot open", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if ((arg = strchr(line, ' ')) != NULL)
			*arg++ = '\0';
		else
			arg = line + strlen(line);
		if (strcmp(line, "job") == 0) {
			if (n == MAXJOBS)
				die2("too many jobs", "");
			j = &jobs[n++];
			envelope_init(&j->env);
			if (sscanf(arg, "%255s %1023s", j->domain, j->msg) != 2)
				die2("bad job line", arg);
			qid_new(qid);
			if (envelope_set_str(&j->env.qid, qid) != 0)
				die2("qid", "");
			j->env.arrival = time(NULL);
			j->sleep_before = pause;
			pause = 0;
		} else if (strcmp(line, "sleep") == 0)
			pause = (unsigned)atoi(arg);
		else if (j == NULL)
			die2("line before the first job:", line);
		else if (strcmp(line, "from") == 0) {
			if (envelope_set_sender(&j->env,
			    strcmp(arg, "<>") == 0 ? "" : arg) != 0)
				die2("bad sender", arg);
		} else if (strcmp(line, "rcpt") == 0)
			add_rcpt(j, arg);
		else if (strcmp(line, "opt") == 0)
			add_opt(j, arg);
		else if (line[0] != '\0' && line[0] != '#')
			die2("unknown line", line);
	}
	fclose(f);
	return n;
}

/* Print results until Z.  0 after Z, -1 on EOF or a bad frame. */
static int
read_results(struct stream *s)
{
	struct buf p = BUF_INIT;
	struct agent_result r;
	const char *why;
	char tag;
	int rc;

	for (;;) {
		rc = frame_read(s, 8192, &tag, &p);
		if (rc != FRAME_OK) {
			printf("EOF\n");
			break;
		}
		rc = agent_result_decode(tag, p.data, p.len, &r, &why);
		if (rc == 2) {
			printf("Z\n");
			buf_free(&p);
			return 0;
		}
		if (rc != 1) {
			printf("BAD %s\n", why);
			break;
		}
		printf("R %u %c %s %s %s\n", (unsigned)r.rcpt_index, r.status,
		    r.dsn, r.relay[0] != '\0' ? r.relay : "-", r.text);
		fflush(stdout);
	}
	buf_free(&p);
	return -1;
}

int
main(int argc, char **argv)
{
	static struct job jobs[MAXJOBS];
	struct stream s;
	struct stat sb;
	size_t n, i;
	int sv[2], st, null, fd;
	pid_t pid;

	if (argc < 4 || strcmp(argv[2], "--") != 0)
		die2("usage:", "remote-driver JOBFILE -- PROG [ARGS...]");
	signal(SIGPIPE, SIG_IGN);
	n = load(argv[1], jobs);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		die2("socketpair", "");
	pid = fork();
	if (pid == 0) {
		null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		if (sv[1] == 3)
			fcntl(3, F_SETFD, 0);	/* dup2(3, 3) keeps CLOEXEC */
		else
			dup2(sv[1], 3);
		execv(argv[3], argv + 3);
		_exit(127);
	}
	close(sv[1]);
	stream_init(&s, sv[0], sv[0], 300000);
	for (i = 0; i < n; i++) {
		if (jobs[i].sleep_before > 0)
			sleep(jobs[i].sleep_before);
		if ((fd = open(jobs[i].msg, O_RDONLY | O_CLOEXEC)) < 0 ||
		    fstat(fd, &sb) != 0)
			die2("cannot open", jobs[i].msg);
		if (!jobs[i].sized)
			jobs[i].env.size = (uint64_t)sb.st_size;
		printf("J %zu\n", i);
		fflush(stdout);
		if (agent_job_send(sv[0], JOB_DELIVER, &jobs[i].env,
		    jobs[i].idx, jobs[i].domain, fd) != 0) {
			printf("SEND FAILED\n");
			break;
		}
		close(fd);
		if (read_results(&s) < 0)
			break;
	}
	fflush(stdout);
	stream_free(&s);
	close(sv[0]);
	waitpid(pid, &st, 0);
	printf("exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) :
	    128 + WTERMSIG(st));
	for (i = 0; i < n; i++)
		envelope_free(&jobs[i].env);
	return 0;
}

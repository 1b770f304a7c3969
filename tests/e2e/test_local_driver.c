/*
 * test_local_driver.c — a stand-in scheduler for the posthorn-local and
 * posthorn-spawn end-to-end tests (built by tests/e2e/test_local_* with
 * cc against build/common/lib.a; not a test itself, so not executable).
 *
 *   driver agent MSGFILE SENDER RCPT... -- PROG [ARGS...]
 *       starts PROG with fd 3 one end of a socketpair, sends one job
 *       (agent_job_send: the envelope with every RCPT, MSGFILE's fd) and
 *       prints each result as "R index status dsn text", then "Z", then
 *       "exit N" after closing the socket (EOF) and reaping PROG.
 *   In every mode the envelope's size is MSGFILE's size, or $DRIVER_MSGSIZE
 *   when set (the message is then MSGFILE's first that many octets).
 *   driver spawn MSGFILE SENDER RCPT...
 *       runs as the scheduler under posthorn-spawn: for each RCPT makes a
 *       socketpair, writes a one-recipient job into its end, hands the
 *       other end to the spawner ($POSTHORN_SPAWN_FD) and prints the
 *       results ("EOF" when the agent ended without any), then the
 *       spawner's "CapEff:" and "CapBnd:" lines from /proc.  Exits with
 *       $DRIVER_EXIT (default 0) so the spawner's propagation is visible;
 *       with $DRIVER_SLEEP it prints "sleeping" and sleeps that long
 *       first (signal tests).  An RCPT "ASKED>REAL" asks the spawner for
 *       ASKED but puts REAL in the job, as a subverted scheduler could.
 *       With $DRIVER_ALL_FIRST every request is sent (and every agent
 *       kept waiting for its next job) before any result is read.
 *   driver bench N MSGFILE SENDER RCPT -- PROG [ARGS...]
 *       N deliveries of MSGFILE to RCPT, one PROG process each (as the
 *       scheduler does), one after the other; prints
 *       "deliveries=N seconds=S per_second=R" (for bench/ comparisons).
 */
#include <fcntl.h>
#include <stdbool.h>
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

static void
usage(void)
{
	fprintf(stderr, "usage: driver agent MSG SENDER RCPT... -- PROG ...\n"
	    "       driver spawn MSG SENDER RCPT...\n"
	    "       driver bench N MSG SENDER RCPT -- PROG ...\n");
	exit(2);
}

/* The envelope's size for the message file msgfd. */
static uint64_t
msg_size(int msgfd)
{
	const char *s = getenv("DRIVER_MSGSIZE");
	struct stat st;

	if (s != NULL)
		return strtoull(s, NULL, 10);
	if (fstat(msgfd, &st) != 0) {
		fprintf(stderr, "driver: fstat failed\n");
		exit(2);
	}
	return (uint64_t)st.st_size;
}

static void
make_env(struct envelope *e, const char *sender, char **rcpts, size_t n,
    uint32_t *idx)
{
	char qid[QID_LEN + 1];
	size_t i;

	envelope_init(e);
	qid_new(qid);
	if (envelope_set_sender(e, sender) == -1 ||
	    envelope_set_str(&e->qid, qid) == -1) {
		fprintf(stderr, "driver: bad sender\n");
		exit(2);
	}
	e->arrival = time(NULL);
	for (i = 0; i < n; i++) {
		if (envelope_add_rcpt(e, rcpts[i], 0, NULL) < 0) {
			fprintf(stderr, "driver: bad recipient %s\n", rcpts[i]);
			exit(2);
		}
		idx[i] = (uint32_t)i;
	}
}

/* Print results until Z; returns the number of results, -1 on EOF. */
static int
read_results(int fd)
{
	struct stream s;
	struct buf p = BUF_INIT;
	struct agent_result r;
	const char *why;
	char tag;
	int n = 0, rc;

	stream_init(&s, fd, fd, 120000);
	for (;;) {
		rc = frame_read(&s, 8192, &tag, &p);
		if (rc != FRAME_OK) {
			printf("EOF\n");
			n = -1;
			break;
		}
		rc = agent_result_decode(tag, p.data, p.len, &r, &why);
		if (rc == 2) {
			printf("Z\n");
			break;
		}
		if (rc != 1) {
			printf("BAD %s\n", why);
			n = -1;
			break;
		}
		printf("R %u %c %s %s\n", (unsigned)r.rcpt_index, r.status,
		    r.dsn, r.text);
		n++;
	}
	fflush(stdout);
	buf_free(&p);
	stream_free(&s);
	return n;
}

static int
agent_mode(int msgfd, const char *sender, char **rcpts, size_t n,
    char **prog)
{
	struct envelope e;
	uint32_t idx[64];
	int sv[2], st, null;
	pid_t pid;

	make_env(&e, sender, rcpts, n, idx);
	e.size = msg_size(msgfd);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return 2;
	pid = fork();
	if (pid == 0) {
		null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(sv[1], 3);
		execv(prog[0], prog);
		_exit(127);
	}
	close(sv[1]);
	if (agent_job_send(sv[0], JOB_DELIVER, &e, idx, "", msgfd) != 0) {
		printf("SEND FAILED\n");
		return 1;
	}
	read_results(sv[0]);
	close(sv[0]);
	waitpid(pid, &st, 0);
	printf("exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128);
	envelope_free(&e);
	return 0;
}

/* The spawner's (our parent's) capability lines. */
static void
print_parent_caps(void)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)getppid());
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "CapEff:", 7) == 0 ||
		    strncmp(line, "CapBnd:", 7) == 0)
			printf("parent %s", line);
	fclose(f);
}

static int
spawn_mode(int msgfd, const char *sender, char **rcpts, size_t n)
{
	const char *s = getenv(SPAWN_FD_ENV);
	const char *ex = getenv("DRIVER_EXIT");
	struct envelope e;
	uint32_t idx[1] = { 0 };
	size_t i;
	int sv[2], spawnfd, held[64];
	char asked[1024], *gt;
	bool all_first = getenv("DRIVER_ALL_FIRST") != NULL;

	if (s == NULL) {
		fprintf(stderr, "driver: %s not set\n", SPAWN_FD_ENV);
		return 2;
	}
	spawnfd = atoi(s);
	printf("uid %u\n", (unsigned)getuid());
	for (i = 0; i < n; i++) {
		snprintf(asked, sizeof(asked), "%s", rcpts[i]);
		if ((gt = strchr(rcpts[i], '>')) != NULL) {
			asked[gt - rcpts[i]] = '\0';
			rcpts[i] = gt + 1;
		}
		make_env(&e, sender, rcpts + i, 1, idx);
		e.size = msg_size(msgfd);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) !=
		    0 || agent_job_send(sv[0], JOB_DELIVER, &e, idx, "",
		    msgfd) != 0 || spawn_request_send(spawnfd, SPAWN_LOCAL,
		    (uint64_t)i + 1, asked, false, sv[1]) != 0) {
			printf("SPAWN FAILED\n");
			return 1;
		}
		close(sv[1]);
		envelope_free(&e);
		if (all_first && i < 64) {
			held[i] = sv[0];
			continue;
		}
		read_results(sv[0]);
		close(sv[0]);
	}
	for (i = 0; all_first && i < n && i < 64; i++)
		read_results(held[i]);
	for (i = 0; all_first && i < n && i < 64; i++)
		close(held[i]);
	print_parent_caps();
	if (getenv("DRIVER_SLEEP") != NULL) {	/* for signal tests */
		printf("sleeping\n");
		fflush(stdout);
		sleep((unsigned)atoi(getenv("DRIVER_SLEEP")));
	}
	fflush(stdout);
	return ex != NULL ? atoi(ex) : 0;
}

/* One quiet delivery through a fresh agent: 0 when it reported D. */
static int
one_delivery(int msgfd, struct envelope *e, uint32_t *idx, char **prog)
{
	struct stream s;
	struct buf p = BUF_INIT;
	struct agent_result r;
	const char *why;
	char tag;
	int sv[2], st, null, ok = -1;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		dup2(sv[1], 3);
		execv(prog[0], prog);
		_exit(127);
	}
	close(sv[1]);
	if (pid > 0 && agent_job_send(sv[0], JOB_DELIVER, e, idx, "",
	    msgfd) == 0) {
		stream_init(&s, sv[0], sv[0], 120000);
		if (frame_read(&s, 8192, &tag, &p) == FRAME_OK &&
		    agent_result_decode(tag, p.data, p.len, &r, &why) == 1 &&
		    r.status == 'D')
			ok = 0;
		stream_free(&s);
	}
	close(sv[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	buf_free(&p);
	return ok;
}

static int
bench_mode(long n, int msgfd, const char *sender, char *rcpt, char **prog)
{
	struct envelope e;
	struct timespec t0, t1;
	uint32_t idx[1];
	double secs;
	long i;

	make_env(&e, sender, &rcpt, 1, idx);
	e.size = msg_size(msgfd);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
		if (one_delivery(msgfd, &e, idx, prog) != 0) {
			printf("delivery %ld failed\n", i);
			return 1;
		}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("deliveries=%ld seconds=%.3f per_second=%.1f\n", n, secs,
	    secs > 0 ? (double)n / secs : 0.0);
	envelope_free(&e);
	return 0;
}

int
main(int argc, char **argv)
{
	int msgfd, i, dash = -1;

	if (argc >= 8 && strcmp(argv[1], "bench") == 0 &&
	    strcmp(argv[6], "--") == 0) {
		msgfd = open(argv[3], O_RDONLY);
		if (msgfd < 0) {
			perror(argv[3]);
			return 2;
		}
		return bench_mode(atol(argv[2]), msgfd, argv[4], argv[5],
		    argv + 7);
	}
	if (argc < 5)
		usage();
	msgfd = open(argv[2], O_RDONLY);
	if (msgfd < 0) {
		perror(argv[2]);
		return 2;
	}
	for (i = 4; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dash = i;
			break;
		}
	if (strcmp(argv[1], "agent") == 0) {
		if (dash < 0 || dash + 1 >= argc || dash - 4 > 64)
			usage();
		return agent_mode(msgfd, argv[3], argv + 4, (size_t)(dash - 4),
		    argv + dash + 1);
	}
	if (strcmp(argv[1], "spawn") == 0)
		return spawn_mode(msgfd, argv[3], argv + 4,
		    (size_t)(argc - 4));
	usage();
	return 2;
}

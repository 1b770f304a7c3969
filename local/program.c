/*
 * program.c — delivery to a command ("|command" in aliases or .forward).
 *
 * The command runs as our own uid (the user's, or alias_user for the
 * aliases file) through /bin/sh -c, in its own session, with the current
 * directory HOME (or / when that fails), and with exactly this
 * environment: SENDER, RECIPIENT, LOCAL, EXTENSION, DOMAIN, HOME, USER,
 * PATH=/usr/bin:/bin.  The command text comes from the administrator's
 * aliases or the user's own .forward; envelope values reach the program
 * only as environment variables, never as shell text.
 *
 * A separate feeder process writes the message (with Return-Path and
 * Delivered-To) to the command's stdin while we read its output, so a
 * command that writes before it reads cannot deadlock us.  The whole run
 * is limited to local_program_timeout; then the process group is killed.
 * The shell runs below a small session leader (guard()) that kills the
 * group when this agent dies, as when the scheduler kills it over its
 * own time limit; the feeder dies with us too.
 *
 * Exit codes: 0 delivered; 71 (EX_OSERR), 74 (EX_IOERR), 75 (EX_TEMPFAIL)
 * or death by a signal: temporary; any other: permanent, with the
 * enhanced code Postfix uses for that sysexits value.  The first output
 * octets become the diagnostic.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "local/local.h"

#define DIAG_MAX 300

/* The feeder dies with posthorn-local (the scheduler kills an agent over
 * its time limit with SIGKILL, which leaves no chance to clean up). */
static void
die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != parent)
		_exit(71);
}

/* The command's session leader, between posthorn-local and /bin/sh.  It
 * stays while posthorn-local waits for the command (until the shell has
 * exited and nothing holds the output pipe any more: a command's
 * background process still writing to it keeps us waiting too), then
 * exits as the shell did.  When posthorn-local dies meanwhile (killed over
 * its time limit) its parent-death signal, SIGTERM, makes it kill the
 * whole process group, so that a hung command, and what it started in its
 * group, does not run on with nobody waiting for it.  It holds only the
 * read end of the output pipe (to see the last writer go; it never reads).
 * SIGCHLD and SIGTERM arrive blocked. */
static void __attribute__((noreturn))
guard(pid_t sh, int out_r)
{
	struct rlimit none = { 0, 0 };
	struct signalfd_siginfo si;
	struct pollfd p[2];
	bool shell_done = false, out_done = false;
	sigset_t set;
	int st = 0, sig;

	if (dup2(out_r, 0) == -1)
		(void)kill(0, SIGKILL);
	close_range(1, ~0U, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	p[0].fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (p[0].fd == -1)
		(void)kill(0, SIGKILL);
	p[0].events = POLLIN;
	p[1].fd = 0;
	p[1].events = 0;	/* POLLHUP only: the last writer went */
	while (!shell_done || !out_done) {
		if (poll(p, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			(void)kill(0, SIGKILL);
		}
		if (p[1].revents != 0) {
			out_done = true;
			p[1].fd = -1;
		}
		if (!(p[0].revents & POLLIN) ||
		    read(p[0].fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		if (si.ssi_signo == SIGTERM) {
			(void)kill(0, SIGKILL);	/* the group, us included */
			_exit(75);
		}
		if (!shell_done && waitpid(sh, &st, WNOHANG) == sh)
			shell_done = true;
	}
	if (WIFEXITED(st))
		_exit(WEXITSTATUS(st));
	/* killed: die of the same signal, without a core file (a pipe
	 * core_pattern ignores RLIMIT_CORE; it honours non-dumpable) */
	(void)setrlimit(RLIMIT_CORE, &none);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	sig = WTERMSIG(st);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
	(void)raise(sig);
	_exit(71);
}

static void
child_exec(const struct lctx *c, const char *cmd, int in, int out,
    int out_r, pid_t parent)
{
	char e_sender[ADDR_MAX + 8], e_rcpt[ADDR_MAX + 16];
	char e_local[ADDR_LOCAL_MAX + 8], e_ext[ADDR_LOCAL_MAX + 16];
	char e_domain[ADDR_DOMAIN_MAX + 8], e_home[4096 + 8];
	char e_user[256 + 8];
	char *envp[9];
	sigset_t set, old;
	pid_t sh, leader;

	snprintf(e_sender, sizeof(e_sender), "SENDER=%s", c->sender);
	snprintf(e_rcpt, sizeof(e_rcpt), "RECIPIENT=%s", c->rcpt);
	snprintf(e_local, sizeof(e_local), "LOCAL=%s", c->local);
	snprintf(e_ext, sizeof(e_ext), "EXTENSION=%s", c->ext);
	snprintf(e_domain, sizeof(e_domain), "DOMAIN=%s", c->domain);
	snprintf(e_home, sizeof(e_home), "HOME=%s", c->home);
	snprintf(e_user, sizeof(e_user), "USER=%s", c->user);
	envp[0] = e_sender;
	envp[1] = e_rcpt;
	envp[2] = e_local;
	envp[3] = e_ext;
	envp[4] = e_domain;
	envp[5] = e_home;
	envp[6] = e_user;
	envp[7] = (char *)"PATH=/usr/bin:/bin";
	envp[8] = NULL;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, &old) == -1 ||
	    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1 ||
	    getppid() != parent ||
	    setsid() == -1)
		_exit(71);
	leader = getpid();
	sh = fork();
	if (sh == -1)
		_exit(71);
	if (sh > 0)
		guard(sh, out_r);
	/* the shell: dies with the guard too (a fork cleared the signal) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != leader ||
	    sigprocmask(SIG_SETMASK, &old, NULL) == -1 ||
	    dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
		_exit(71);
	close_range(3, ~0U, 0);
	/* main.c ignores these; an ignored signal stays ignored in exec */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	if (c->home[0] == '\0' || chdir(c->home) != 0)
		if (chdir("/") != 0)
			_exit(71);
	execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, envp);
	_exit(71);
}

/* The feeder: message into the pipe, then exit (EPIPE is fine). */
static void
feeder(const struct lctx *c, int in, pid_t parent)
{
	struct buf prefix = BUF_INIT;

	die_with_parent(parent);
	signal(SIGPIPE, SIG_IGN);
	if (msg_prefix(c, &prefix) == -1)
		_exit(1);
	(void)msg_copy(c->msgfd, c->msgsize, in, &prefix, false);
	_exit(0);
}

static long
ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
}

/* Collect output until EOF and the child's exit, or the deadline.
 * Returns 0 and *status, or -1 on timeout. */
static int
collect(pid_t pid, int out, const struct timespec *deadline, char *diag,
    size_t diagsz, int *status)
{
	struct pollfd p;
	char tmp[4096];
	size_t dn = 0;
	ssize_t n;
	int open_ = 1;
	struct timespec nap = { 0, 20000000L };

	diag[0] = '\0';
	while (open_) {
		p.fd = out;
		p.events = POLLIN;
		n = poll(&p, 1, (int)ms_left(deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;	/* deadline (or poll failed) */
		n = read(out, tmp, sizeof(tmp));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			open_ = 0;
			break;
		}
		if (dn + 1 < diagsz) {
			size_t k = diagsz - 1 - dn;
			if (k > (size_t)n)
				k = (size_t)n;
			memcpy(diag + dn, tmp, k);
			dn += k;
			diag[dn] = '\0';
		}
	}
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -1;
		if (ms_left(deadline) == 0)
			return -1;
		nanosleep(&nap, NULL);
	}
}

/* Postfix's sys_exits table, with 71/74/75 temporary. */
static void
classify(int status, const char *cmd, const char *diag, struct lresult *r)
{
	static const struct { int code; const char *dsn; } tab[] = {
		{ 64, "5.3.0" }, { 65, "5.6.0" }, { 66, "5.3.0" },
		{ 67, "5.1.1" }, { 68, "5.1.2" }, { 69, "5.3.0" },
		{ 70, "5.3.0" }, { 71, "4.3.0" }, { 72, "5.3.0" },
		{ 73, "5.2.0" }, { 74, "4.3.0" }, { 75, "4.3.0" },
		{ 76, "5.5.0" }, { 77, "5.7.0" }, { 78, "5.3.5" },
	};
	const char *dsn = "5.3.0";
	size_t i;
	int code;

	if (WIFSIGNALED(status)) {
		res_set(r, 'T', "4.3.0", "command killed by signal %d: %s",
		    WTERMSIG(status), diag);
		return;
	}
	code = WEXITSTATUS(status);
	if (code == 0) {
		res_set(r, 'D', "2.0.0", "delivered to command: %s", cmd);
		return;
	}
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].code == code)
			dsn = tab[i].dsn;
	res_set(r, dsn[0] == '4' ? 'T' : 'P', dsn,
	    "command exited with status %d: %s", code, diag);
}

static void
flatten(char *s)
{
	size_t n = strlen(s);

	for (; *s != '\0'; s++)
		if (*s == '\n' || *s == '\r' || *s == '\t')
			*s = ' ';
	while (n > 0 && s[-1] == ' ') {
		*--s = '\0';
		n--;
	}
}

void
program_deliver(const struct lctx *c, const char *cmd, struct lresult *r)
{
	int in[2], out[2], status = 0;
	pid_t pid, fpid, self = getpid();
	struct timespec deadline;
	char diag[DIAG_MAX + 1];

	/* "|" alone (or "| "): sh -c "" exits 0, which would discard the
	 * message in silence */
	if (cmd[strspn(cmd, " \t")] == '\0') {
		res_set(r, 'P', "5.1.3", "empty command in alias or .forward");
		return;
	}
	if (pipe2(in, O_CLOEXEC) != 0)
		goto fail;
	if (pipe2(out, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		goto fail;
	}
	pid = fork();
	if (pid == 0)
		child_exec(c, cmd, in[0], out[1], out[0], self);
	close(in[0]);
	close(out[1]);
	fpid = pid > 0 ? fork() : -1;
	if (fpid == 0) {
		close(out[0]);
		feeder(c, in[1], self);
	}
	close(in[1]);
	if (pid < 0 || fpid < 0) {
		int saved = errno;

		if (pid > 0) {
			/* the leader first: it cannot start the shell after
			 * this, and, not yet reaped, keeps the group's id */
			kill(pid, SIGKILL);
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		close(out[0]);
		errno = saved;
		goto fail;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)c->cfg->local_program_timeout;
	if (collect(pid, out[0], &deadline, diag, sizeof(diag), &status)
	    != 0) {
		kill(pid, SIGKILL);
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		res_set(r, 'T', "4.3.0", "command timed out after %llus: %s",
		    (unsigned long long)c->cfg->local_program_timeout, cmd);
	} else {
		flatten(diag);
		classify(status, cmd, diag, r);
	}
	close(out[0]);
	kill(fpid, SIGKILL);
	waitpid(fpid, NULL, 0);
	return;
fail:
	res_set(r, 'T', "4.3.0", "cannot start command: %s", strerror(errno));
}

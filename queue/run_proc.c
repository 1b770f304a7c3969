/*
 * run_proc.c — posthorn-run's children: one posthorn-smtpd or
 * posthorn-queue per connection (the connection on fd 0/1, TCP* variables
 * like tcpserver, each child leading its own session and process group,
 * without our terminal or our inherited descriptors), the
 * scheduler (posthorn-spawn or posthorn-send, with NOTIFY_SOCKET), and
 * the bookkeeping that lets a stop signal every one of them by PID.
 *
 * Trust: nothing from peers is read here.  Run by root, SMTP sessions
 * never stay root (see smtpd_identity()).
 */
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/io.h"
#include "common/log.h"
#include "common/units.h"
#include "queue/run.h"

static int
child_add(struct run *r, pid_t pid, struct listener *l)
{
	if (r->nkids == r->kcap) {
		size_t ncap = r->kcap ? r->kcap * 2 : 64;
		struct child *nk = xrealloc_array(r->kids, ncap, sizeof(*nk));

		if (nk == NULL)
			return -1;
		r->kids = nk;
		r->kcap = ncap;
	}
	r->kids[r->nkids].pid = pid;
	r->kids[r->nkids].l = l;
	r->nkids++;
	return 0;
}

/* In the child: fd 0 from /dev/null.  0 ok, -1 failed. */
static int
stdin_null(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		return -1;
	if (fd != 0 && (dup2(fd, 0) == -1 || close(fd) == -1))
		return -1;
	return 0;
}

/*
 * In the child: a clean signal state, a session of its own and the
 * program, with the connection on fd 0/1 (connfd >= 0), or the listening
 * socket as fd 3 with LISTEN_FDS (listenfd >= 0).
 *
 * Our terminal never reaches a child (run by root from a shell, the
 * children run as posthorn-smtpd, nobody, the recipients): the new
 * session has no controlling terminal, so /dev/tty cannot be opened and
 * TIOCSTI cannot push input into the shell; stdin is /dev/null; and a
 * terminal on fd 1 or 2 is replaced by the log pipe that the event loop
 * copies to our stderr (run.c), because any descriptor of a terminal
 * lets its holder read what is typed there and change its modes.  No
 * other descriptor we inherited reaches the program (close_range).
 */
static void __attribute__((noreturn))
child_exec(const struct run *r, const char *prog, char *const argv[],
    int connfd, int listenfd, pid_t parent)
{
	unsigned first_free = 3;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (setsid() == -1)
		_exit(EX_OSERR);
	/* if posthorn-run is killed outright, its children go too: a new
	 * posthorn-run must never find an old scheduler on the spool */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1 ||
	    getppid() != parent)
		_exit(EX_OSERR);
	/* every descriptor here is >= 3: main() keeps 0-2 open */
	if (listenfd >= 0) {
		/* dup2(3, 3) would keep close-on-exec: clear it by hand */
		if (listenfd != SD_LISTEN_FDS_START &&
		    dup2(listenfd, SD_LISTEN_FDS_START) == -1)
			_exit(EX_OSERR);
		if (fcntl(SD_LISTEN_FDS_START, F_SETFD, 0) == -1)
			_exit(EX_OSERR);
		first_free = SD_LISTEN_FDS_START + 1;
	}
	if (connfd >= 0) {
		if (dup2(connfd, 0) == -1 || dup2(connfd, 1) == -1)
			_exit(EX_OSERR);
	} else if (stdin_null() == -1 || (r->pipe_out &&
	    dup2(r->logpipe[1], 1) == -1))
		_exit(EX_OSERR);
	if (r->pipe_err && dup2(r->logpipe[1], 2) == -1)
		_exit(EX_OSERR);
	if (close_range(first_free, ~0U, 0) == -1)
		_exit(EX_OSERR);
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	unsetenv("WATCHDOG_PID");	/* the pinging process is a grandchild */
	if (listenfd >= 0) {
		char pid[32];

		snprintf(pid, sizeof(pid), "%ld", (long)getpid());
		if (setenv("LISTEN_FDS", "1", 1) == -1 ||
		    setenv("LISTEN_PID", pid, 1) == -1)
			_exit(EX_OSERR);
	}
	execv(prog, argv);
	log_msg(LOG_ERR, "exec_failed", "program", prog, "reason",
	    strerror(errno), (char *)NULL);
	_exit(EX_UNAVAILABLE);
}

static void
set_tcp_env(int conn)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char ip[INET6_ADDRSTRLEN], port[16];

	setenv("PROTO", "TCP", 1);
	sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getpeername(conn, (struct sockaddr *)&ss, &sl) == 0) {
		split_sockaddr(&ss, ip, sizeof(ip), port, sizeof(port));
		setenv("TCPREMOTEIP", ip, 1);
		setenv("TCPREMOTEPORT", port, 1);
	}
	sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(conn, (struct sockaddr *)&ss, &sl) == 0) {
		split_sockaddr(&ss, ip, sizeof(ip), port, sizeof(port));
		setenv("TCPLOCALIP", ip, 1);
		setenv("TCPLOCALPORT", port, 1);
	}
}

/* The program for listener l and its arguments (argv has room for 5). */
static int
listener_program(const struct run *r, const struct listener *l, char *prog,
    size_t progsz, char *argv[])
{
	int argc = 0;

	if (libexec_path(l->kind == L_QUEUE ? "posthorn-queue" :
	    "posthorn-smtpd", prog, progsz) == -1)
		return -1;
	argv[argc++] = l->kind == L_QUEUE ? "posthorn-queue" :
	    "posthorn-smtpd";
	if (l->kind == L_SUBMISSION)
		argv[argc++] = "--submission";
	else if (l->kind == L_SMTPS)
		argv[argc++] = "--smtps";
	argv[argc++] = "-C";
	argv[argc++] = (char *)r->dir;
	argv[argc] = NULL;
	return 0;
}

/* In a child about to run posthorn-smtpd: never as root without its
 * user (see smtpd_identity()). */
static void
child_smtpd_identity(const struct run *r, const struct listener *l)
{
	if (l->kind != L_QUEUE && r->smtpd_drop &&
	    (setgroups(0, NULL) == -1 || setgid(r->smtpd_gid) == -1 ||
	    setuid(r->smtpd_uid) == -1 || setuid(0) == 0))
		_exit(EX_OSERR);
}

int
spawn_for(struct run *r, struct listener *l, int conn)
{
	char prog[PATH_MAX];
	char *argv[5];
	pid_t pid, parent;

	if (listener_program(r, l, prog, sizeof(prog), argv) == -1)
		return -1;
	parent = getpid();
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		unsetenv("NOTIFY_SOCKET");
		unsetenv("WATCHDOG_USEC");
		if (l->kind != L_QUEUE)
			set_tcp_env(conn);
		child_smtpd_identity(r, l);
		child_exec(r, prog, argv, conn, -1, parent);
	}
	if (child_add(r, pid, l) == -1) {
		/* cannot track it: do not let it run untracked */
		kill(pid, SIGKILL);
		return -1;
	}
	l->nchildren++;
	return 0;
}

/*
 * Server mode: one long-running posthorn-smtpd or posthorn-queue owns the
 * listening socket (LISTEN_FDS, as a socket unit with Accept=no would
 * pass it) and forks one process per connection itself: a connection
 * costs a fork, not an exec.  posthorn-run keeps the socket, so while a
 * server is restarted new connections wait in the listen queue.
 */
int
server_start(struct run *r, struct listener *l)
{
	char prog[PATH_MAX], p[32];
	char *argv[5];
	pid_t pid, parent;

	if (listener_program(r, l, prog, sizeof(prog), argv) == -1)
		return -1;
	parent = getpid();
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		unsetenv("NOTIFY_SOCKET");
		unsetenv("WATCHDOG_USEC");
		child_smtpd_identity(r, l);
		child_exec(r, prog, argv, -1, l->fd, parent);
	}
	if (child_add(r, pid, l) == -1) {
		kill(pid, SIGKILL);
		return -1;
	}
	l->server_pid = pid;
	l->server_started = now_usec();
	snprintf(p, sizeof(p), "%ld", (long)pid);
	log_msg(LOG_INFO, "started", "program", argv[0], "listener", l->addr,
	    "pid", p, (char *)NULL);
	return 0;
}

/* SIGHUP: servers read their configuration once, at start; stop each one
 * (only the server: its sessions finish undisturbed) and start it again
 * at once.  Per-connection programs read it for every connection. */
void
servers_reload(struct run *r)
{
	size_t i;

	for (i = 0; i < r->nls; i++) {
		struct listener *l = &r->ls[i];

		if (l->server_pid > 0) {
			l->server_reload = true;
			kill(l->server_pid, SIGTERM);
		}
	}
}

/* ---- the scheduler --------------------------------------------------- */

int
sched_start(struct run *r)
{
	char *argv[6];
	pid_t pid, parent;

	argv[0] = strrchr(r->sched_prog, '/') + 1;
	argv[1] = "-C";
	argv[2] = r->dir;
	argv[3] = NULL;
	/* the spawner would switch the scheduler to posthorn-queue when run
	 * by root; under posthorn-run everything runs as the caller */
	if (geteuid() == 0 && strcmp(argv[0], "posthorn-spawn") == 0) {
		argv[3] = "-u";
		argv[4] = "root";
		argv[5] = NULL;
	}
	parent = getpid();
	if ((pid = fork()) == -1) {
		log_msg(LOG_ERR, "spawn_failed", "program", r->sched_prog,
		    "reason", strerror(errno), (char *)NULL);
		return -1;
	}
	if (pid == 0) {
		char wd[32];

		snprintf(wd, sizeof(wd), "%llu",
		    (unsigned long long)r->watchdog_usec);
		setenv("NOTIFY_SOCKET", r->notify_path, 1);
		setenv("WATCHDOG_USEC", wd, 1);
		child_exec(r, r->sched_prog, argv, -1, -1, parent);
	}
	r->sched_pid = pid;
	r->sched_pgid = pid;
	r->last_ping = 0;
	r->sched_started = now_usec();
	{
		char p[32];

		snprintf(p, sizeof(p), "%ld", (long)pid);
		log_msg(LOG_INFO, "started", "program", argv[0], "pid", p,
		    (char *)NULL);
	}
	return 0;
}

/* ---- children and shutdown ------------------------------------------- */

/* A child's process group is its pid once its setsid() has run; the
 * parent does not setpgid() it first (a group leader cannot setsid()),
 * so until then the child is reached by its pid alone. */
static void
signal_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) == -1)
		kill(pid, sig);
}

/* The parent and the command name of pid from /proc/PID/stat ("pid
 * (comm) state ppid ..."; comm may hold anything, so the last ')' ends
 * it).  0 ok, -1 gone or unreadable. */
static int
proc_stat(pid_t pid, long *ppid, char *comm, size_t commsz)
{
	char path[64], st[512], *lp, *rp;
	ssize_t k;
	size_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	k = read(fd, st, sizeof(st) - 1);
	close(fd);
	if (k <= 0)
		return -1;
	st[k] = '\0';
	lp = strchr(st, '(');
	rp = strrchr(st, ')');
	if (lp == NULL || rp == NULL || rp < lp ||
	    sscanf(rp + 1, " %*c %ld", ppid) != 1)
		return -1;
	n = (size_t)(rp - lp - 1);
	if (n >= commsz)
		n = commsz - 1;
	memcpy(comm, lp + 1, n);
	comm[n] = '\0';
	return 0;
}

/* Signal every child of parent (whose command is comm, if not NULL)
 * that is not one we track, by PID (group: its process group too, if it
 * leads one). */
static void
signal_children_of(struct run *r, pid_t parent, const char *comm, int sig,
    bool group)
{
	struct dirent *de;
	char c[64];
	pid_t pid;
	size_t i;
	long ppid;
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = (pid_t)strtol(de->d_name, NULL, 10);
		if (proc_stat(pid, &ppid, c, sizeof(c)) == -1 ||
		    ppid != (long)parent || (comm != NULL && strcmp(c, comm)))
			continue;
		for (i = 0; i < r->nkids && r->kids[i].pid != pid; i++)
			;
		if (i == r->nkids && pid != r->sched_pid) {
			if (group)
				signal_group(pid, sig);
			else
				kill(pid, sig);
		}
	}
	closedir(d);
}

/* SIGHUP: the scheduler rereads its configuration.  As systemctl reload
 * (ExecReload=) does, the signal goes to the process we started:
 * posthorn-spawn passes it on to posthorn-send. */
void
reload_scheduler(struct run *r)
{
	if (r->sched_pid > 0)
		kill(r->sched_pid, SIGHUP);
}

/*
 * The spawner starts posthorn-send and every agent in a session (and
 * process group) of its own (spawn.c), out of the scheduler's process
 * group, so these are signalled one by one: the children of the
 * scheduler's main process, and, once it is gone, those of them that
 * are now ours (we are a subreaper), each with its process group
 * (posthorn-send's holds the bounce agents it starts).
 */
void
signal_sched_children(struct run *r, int sig)
{
	if (r->sched_pid > 0)
		signal_children_of(r, r->sched_pid, NULL, sig, true);
}

void
signal_sched_orphans(struct run *r, int sig)
{
	static const char *const progs[] = { "posthorn-send",
		"posthorn-local", "posthorn-remote", "posthorn-bounce" };

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		signal_children_of(r, getpid(), progs[i], sig, true);
}

void
signal_all(struct run *r, int sig)
{
	size_t i;

	signal_sched_children(r, sig);
	if (r->sched_pid > 0)
		signal_group(r->sched_pid, sig);
	if (r->sched_pgid > 0)	/* what is left of an earlier scheduler */
		kill(-r->sched_pgid, sig);
	for (i = 0; i < r->nkids; i++)
		signal_group(r->kids[i].pid, sig);
	/* orphans: we are a child subreaper, so a descendant whose parent
	 * died (posthorn-send after a SIGKILL of posthorn-spawn, an agent)
	 * is our child now */
	signal_children_of(r, getpid(), NULL, sig, true);
}

int
find_scheduler(struct run *r, struct buf *err)
{
	if (libexec_path("posthorn-spawn", r->sched_prog,
	    sizeof(r->sched_prog)) == 0 && access(r->sched_prog, X_OK) == 0)
		return 0;
	if (libexec_path("posthorn-send", r->sched_prog,
	    sizeof(r->sched_prog)) == 0 && access(r->sched_prog, X_OK) == 0)
		return 0;
	buf_printf(err, "neither posthorn-spawn nor posthorn-send found "
	    "next to posthorn-run");
	return -1;
}

/* The per-connection programs are only run at the first connection: say
 * at startup, once, when one is missing (its listener's connections will
 * be closed at once). */
void
check_programs(void)
{
	static const char *const progs[] = { "posthorn-smtpd",
		"posthorn-queue" };
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < 2; i++) {
		path[0] = '\0';
		if (libexec_path(progs[i], path, sizeof(path)) == -1 ||
		    access(path, X_OK) == -1)
			log_msg(LOG_WARNING, "program_missing", "program",
			    progs[i], "path", path, "reason", strerror(errno),
			    (char *)NULL);
	}
}

/* posthorn-smtpd refuses to stay root and becomes posthorn-smtpd by
 * itself.  On a machine without that user (a development box, a test
 * container) posthorn-run, run by root, starts the sessions as nobody:
 * the network-facing program never runs as root.  posthorn-queue,
 * which we start as root too, makes the same choice to know whose
 * client addresses to believe (queue/qmain.c smtpd_uid()): keep the two
 * in step. */
void
smtpd_identity(struct run *r)
{
	struct passwd *pw;

	if (geteuid() != 0 || getpwnam("posthorn-smtpd") != NULL)
		return;
	if ((pw = getpwnam("nobody")) == NULL || pw->pw_uid == 0)
		return;	/* smtpd will refuse, and say why */
	r->smtpd_drop = true;
	r->smtpd_uid = pw->pw_uid;
	r->smtpd_gid = pw->pw_gid;
	log_msg(LOG_INFO, "smtpd_user", "user", "nobody", "reason",
	    "running as root and there is no user posthorn-smtpd",
	    (char *)NULL);
}

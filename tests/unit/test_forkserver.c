/*
 * test_forkserver.c — unit tests for common/forkserver.c: one process per
 * connection (max_use 1) versus reused workers (max_use > 1), the limit
 * on simultaneous connections, a worker leaving after max_use, a crashed
 * worker replaced, SIGTERM ending the server, children that hold no
 * descriptor of the server's, the hook a worker runs as it exits, and
 * the limit per client address (on 127.0.0.1, a free port).
 *
 * The server runs in a forked process on a unix listening socket in a
 * temporary directory; each connection is answered with the serving
 * process's pid, then held open until the client closes it.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "common/cidr.h"
#include "common/forkserver.h"
#include "common/log.h"

static char sockpath[108];
static pid_t server;
static int with_exit_hook;	/* start(): set forkserver_at_worker_exit */

/* The worker exit hook: leaves SOCKPATH.exit.PID behind. */
static void
exit_hook(void)
{
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s.exit.%ld", sockpath, (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd != -1)
		close(fd);
}

/* How many SOCKPATH.exit.* marks there are; remove them when told to. */
static int
exit_marks_scan(int remove)
{
	char prefix[160], path[300];
	const char *base;
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(prefix, sizeof(prefix), "%s.exit.", sockpath);
	base = strrchr(prefix, '/') + 1;
	d = opendir("/tmp");
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, base, strlen(base)) != 0)
			continue;
		n++;
		if (remove) {
			snprintf(path, sizeof(path), "/tmp/%s", e->d_name);
			ck_assert_int_eq(unlink(path), 0);
		}
	}
	closedir(d);
	return n;
}

static int
exit_marks(void)
{
	return exit_marks_scan(0);
}

/* Has pid left its exit mark?  Waits up to 5 s for it. */
static int
exit_mark_of(long pid)
{
	char path[160];

	snprintf(path, sizeof(path), "%s.exit.%ld", sockpath, pid);
	for (int i = 0; i < 100; i++) {		/* bounded: 5 s */
		if (access(path, F_OK) == 0)
			return 1;
		usleep(50000);
	}
	return 0;
}

#define REPORT_FDS	((void *)2)

/* Descriptors this process holds beyond 0-2 and conn: "A<anon> S<sockets>"
 * (anon: epoll, signalfd, timerfd; sockets: listening sockets, other
 * clients' connections, control sockets). */
static int
fd_report(int conn, char *b, size_t bsz)
{
	char path[64], link[128];
	int anon = 0, socks = 0;
	ssize_t n;

	for (int fd = 3; fd < 1024; fd++) {
		if (fd == conn)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, "anon_inode:", 11) == 0)
			anon++;
		else if (strncmp(link, "socket:", 7) == 0)
			socks++;
	}
	return snprintf(b, bsz, "A%d S%d\n", anon, socks);
}

/* Say our pid (or what we hold); on "k" crash; then wait for the client
 * to close. */
static int
serve(int conn, void *arg)
{
	char b[32], cmd;
	int n;

	if (arg == REPORT_FDS)
		n = fd_report(conn, b, sizeof(b));
	else
		n = snprintf(b, sizeof(b), "%ld\n", (long)getpid());
	if (write(conn, b, (size_t)n) != n)
		return 1;
	if (arg != NULL && arg != REPORT_FDS)
		return 0;	/* done at once: the client must see EOF */
	while (read(conn, &cmd, 1) == 1)
		if (cmd == 'k')
			abort();
	return 0;
}

static void
start_arg(unsigned max, unsigned max_use, void *arg)
{
	struct sockaddr_un sa;
	int fd;

	snprintf(sockpath, sizeof(sockpath), "/tmp/test_forkserver.%ld",
	    (long)getpid());
	unlink(sockpath);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 64), 0);
	server = fork();
	ck_assert_int_ge(server, 0);
	if (server == 0) {
		log_init("test_forkserver");
		if (with_exit_hook)
			forkserver_at_worker_exit(exit_hook);
		_exit(forkserver_run(&fd, 1, max, max_use, serve, arg) == 0 ?
		    0 : 1);
	}
	close(fd);
}

static void
start(unsigned max, unsigned max_use)
{
	start_arg(max, max_use, NULL);
}

static struct sockaddr_in tcpaddr;	/* start_tcp(): where it listens */
static int exempt_loopback;		/* start_tcp(): 127.0.0.0/8 exempt */

/* A server on 127.0.0.1 (a free port) with at most per_source
 * connections from one address; refused ones get "BUSY\n". */
static void
start_tcp(unsigned max, unsigned max_use, unsigned per_source)
{
	static struct cidrlist loopback;
	socklen_t sl = sizeof(tcpaddr);
	struct cidr c;
	const char *why;
	int fd;

	ck_assert_int_eq(cidr_parse("127.0.0.0/8", &c, &why), 0);
	if (loopback.n == 0)
		ck_assert_int_eq(cidrlist_add(&loopback, &c), 0);
	sockpath[0] = '\0';
	memset(&tcpaddr, 0, sizeof(tcpaddr));
	tcpaddr.sin_family = AF_INET;
	tcpaddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&tcpaddr,
	    sizeof(tcpaddr)), 0);
	ck_assert_int_eq(listen(fd, 64), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&tcpaddr, &sl),
	    0);
	server = fork();
	ck_assert_int_ge(server, 0);
	if (server == 0) {
		log_init("test_forkserver");
		forkserver_per_source(per_source, "BUSY\n",
		    exempt_loopback ? &loopback : NULL);
		_exit(forkserver_run(&fd, 1, max, max_use, serve, NULL) == 0 ?
		    0 : 1);
	}
	close(fd);
}

static int
conn_open_tcp(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&tcpaddr,
	    sizeof(tcpaddr)), 0);
	return fd;
}

/* What a refused connection gets: "BUSY\n", then EOF (within 5 s). */
static int
conn_refused(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[16];
	ssize_t n;

	if (poll(&p, 1, 5000) != 1)
		return 0;
	n = read(fd, b, sizeof(b));
	if (n != 5 || memcmp(b, "BUSY\n", 5) != 0)
		return 0;
	return poll(&p, 1, 5000) == 1 && read(fd, b, sizeof(b)) == 0;
}

static int
conn_open(void)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sockpath);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The serving pid, or 0 if none answers within ms. */
static long
conn_pid(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[32];
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return 0;
	n = read(fd, b, sizeof(b) - 1);
	if (n <= 0)
		return 0;
	b[n] = '\0';
	return strtol(b, NULL, 10);
}

static void
stop(void)
{
	int st;

	ck_assert_int_eq(kill(server, SIGTERM), 0);
	ck_assert_int_eq(waitpid(server, &st, 0), server);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	unlink(sockpath);
}

/* Until worker pid waits for its next connection (in ppoll on its
 * channel, /proc/PID/syscall), at most 5 s, and a moment more for the
 * server to read the report it wrote just before; 0 if it never does (or
 * is gone). */
static int
worker_idle(long pid)
{
	char path[64], b[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/syscall", pid);
	for (int i = 0; i < 500; i++) {		/* bounded: 5 s */
		if ((f = fopen(path, "r")) == NULL)
			return 0;
		b[0] = '\0';
		if (fgets(b, sizeof(b), f) == NULL)
			b[0] = '\0';
		fclose(f);
		if (strtol(b, NULL, 10) == SYS_ppoll) {
			usleep(20000);
			return 1;
		}
		usleep(10000);
	}
	return 0;
}

/* n connections one after another, each closed once answered: p[i] is
 * the pid that served the i-th. */
static void
serve_one_by_one(long *p, int n)
{
	for (int i = 0; i < n; i++) {
		int fd = conn_open();

		p[i] = conn_pid(fd, 5000);
		close(fd);
		ck_assert_int_gt(p[i], 0);
		if (i + 1 < n)	/* back for the next, unless leaving */
			(void)worker_idle(p[i]);
	}
}

START_TEST(test_process_per_connection)
{
	long a, b;
	int fd;

	start(4, 1);
	fd = conn_open();
	a = conn_pid(fd, 5000);
	close(fd);
	fd = conn_open();
	b = conn_pid(fd, 5000);
	close(fd);
	ck_assert_int_gt(a, 0);
	ck_assert_int_gt(b, 0);
	ck_assert_int_ne(a, b);
	ck_assert_int_ne(a, server);
	stop();
}
END_TEST

START_TEST(test_workers_reused)
{
	long first, p;
	int fd, i;

	start(4, 100);
	fd = conn_open();
	first = conn_pid(fd, 5000);
	close(fd);
	ck_assert_int_gt(first, 0);
	ck_assert_int_ne(first, server);
	for (i = 0; i < 20; i++) {
		ck_assert(worker_idle(first));	/* reported back */
		fd = conn_open();
		p = conn_pid(fd, 5000);
		close(fd);
		ck_assert_int_eq(p, first);
	}
	stop();
}
END_TEST

START_TEST(test_workers_parallel_and_limit)
{
	long p[3];
	int fd[3], i;

	start(2, 100);
	fd[0] = conn_open();
	fd[1] = conn_open();
	p[0] = conn_pid(fd[0], 5000);
	p[1] = conn_pid(fd[1], 5000);
	ck_assert_int_gt(p[0], 0);
	ck_assert_int_gt(p[1], 0);
	ck_assert_int_ne(p[0], p[1]);
	/* both workers busy, at the limit: the third waits */
	fd[2] = conn_open();
	ck_assert_int_eq(conn_pid(fd[2], 500), 0);
	close(fd[0]);
	p[2] = conn_pid(fd[2], 5000);
	ck_assert_int_eq(p[2], p[0]);	/* the freed worker takes it */
	for (i = 1; i < 3; i++)
		close(fd[i]);
	stop();
}
END_TEST

START_TEST(test_worker_max_use)
{
	long p[5];

	start(4, 2);
	serve_one_by_one(p, 5);
	ck_assert_int_eq(p[0], p[1]);
	ck_assert_int_ne(p[1], p[2]);
	ck_assert_int_eq(p[2], p[3]);
	ck_assert_int_ne(p[3], p[4]);
	stop();
}
END_TEST

/* A worker runs its exit hook when it leaves after max_use, when the
 * server closes its channel and on SIGTERM between connections; a process
 * per connection (max_use 1) and a worker that stays do not.  A worker
 * busy when the server stops finishes its connection first. */
START_TEST(test_worker_exit_hook)
{
	long p[3];
	int fd, marks;

	with_exit_hook = 1;
	start(4, 2);
	serve_one_by_one(p, 3);
	ck_assert_int_eq(p[0], p[1]);
	ck_assert_int_ne(p[1], p[2]);
	ck_assert(exit_mark_of(p[0]));		/* after max_use */
	usleep(100000);
	ck_assert_int_eq(exit_marks(), 1);	/* the others stay */
	stop();
	ck_assert(exit_mark_of(p[2]));		/* told to stop */
	/* SIGTERM to an idle worker (a supervisor stopping the group) */
	start(4, 2);
	fd = conn_open();
	p[0] = conn_pid(fd, 5000);
	close(fd);
	ck_assert_int_gt(p[0], 0);
	ck_assert(worker_idle(p[0]));	/* back between connections */
	ck_assert_int_eq(kill((pid_t)p[0], SIGTERM), 0);
	ck_assert(exit_mark_of(p[0]));
	stop();
	/* the server stops while a worker serves a connection: the session
	 * goes on undisturbed, and the worker leaves after it */
	start(4, 100);
	fd = conn_open();
	p[0] = conn_pid(fd, 5000);
	ck_assert_int_gt(p[0], 0);
	stop();
	usleep(100000);
	ck_assert_int_eq(kill((pid_t)p[0], 0), 0);	/* still serving */
	close(fd);
	ck_assert(exit_mark_of(p[0]));
	marks = exit_marks();
	/* one process per connection: no hook */
	start(4, 1);
	fd = conn_open();
	ck_assert_int_gt(conn_pid(fd, 5000), 0);
	close(fd);
	usleep(100000);
	ck_assert_int_eq(exit_marks(), marks);
	stop();
	with_exit_hook = 0;
	ck_assert_int_eq(exit_marks_scan(1), marks);
}
END_TEST

START_TEST(test_worker_crash_replaced)
{
	long a, b;
	int fd;

	start(1, 100);
	fd = conn_open();
	a = conn_pid(fd, 5000);
	ck_assert_int_gt(a, 0);
	ck_assert_int_eq(write(fd, "k", 1), 1);
	close(fd);
	/* the only slot was the crashed worker's: a new one serves */
	fd = conn_open();
	b = conn_pid(fd, 5000);
	close(fd);
	ck_assert_int_gt(b, 0);
	ck_assert_int_ne(a, b);
	stop();
}
END_TEST

/* The connection ends when the child is done with it: no copy of it
 * may stay open elsewhere (a new worker inherits the server's). */
START_TEST(test_connection_closed_after_child)
{
	struct pollfd p;
	char b[64];
	int fd, i, round;

	for (round = 0; round < 2; round++) {
		start_arg(4, round == 0 ? 1 : 100, (void *)1);
		for (i = 0; i < 3; i++) {
			fd = conn_open();
			ck_assert_int_gt(conn_pid(fd, 5000), 0);
			p.fd = fd;
			p.events = POLLIN;
			ck_assert_int_eq(poll(&p, 1, 5000), 1);
			ck_assert_int_eq(read(fd, b, sizeof(b)), 0);	/* EOF */
			close(fd);
		}
		stop();
	}
}
END_TEST

static void
conn_line(int fd, char *b, size_t bsz)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	n = read(fd, b, bsz - 1);
	ck_assert_int_gt(n, 0);
	b[n] = '\0';
}

/* A child holds nothing of the server's: no listening socket, no other
 * client's connection, no other worker's control socket, and none of the
 * server's event loop (an epoll descriptor would let a compromised child
 * add entries with pointers of its choosing to the server's loop). */
START_TEST(test_child_holds_nothing_of_the_server)
{
	char b[64];
	int fd[2], round;

	for (round = 0; round < 2; round++) {
		start_arg(4, round == 0 ? 1 : 100, REPORT_FDS);
		fd[0] = conn_open();
		conn_line(fd[0], b, sizeof(b));
		/* a worker keeps its own control socket, nothing else */
		ck_assert_str_eq(b, round == 0 ? "A0 S0\n" : "A0 S1\n");
		fd[1] = conn_open();	/* while the first is busy */
		conn_line(fd[1], b, sizeof(b));
		ck_assert_str_eq(b, round == 0 ? "A0 S0\n" : "A0 S1\n");
		close(fd[0]);
		close(fd[1]);
		stop();
	}
}
END_TEST

/* The lowest descriptor number pid has free. */
static int
lowest_free_fd(pid_t pid)
{
	char path[64];

	for (int fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)pid, fd);
		if (access(path, F_OK) != 0)
			return fd;
	}
	return -1;
}

/* Connect while the server's next accept fails (EMFILE: its descriptor
 * limit lowered to the lowest free one), restore the limit after the
 * failure: the pid that serves the connection, or 0 if none does. */
static long
conn_after_accept_failure(void)
{
	struct rlimit rl, low;
	long p;
	int fd, lim;

	ck_assert_int_eq(prlimit(server, RLIMIT_NOFILE, NULL, &rl), 0);
	lim = lowest_free_fd(server);
	ck_assert_int_gt(lim, 0);
	low = rl;
	low.rlim_cur = (rlim_t)lim;
	ck_assert_int_eq(prlimit(server, RLIMIT_NOFILE, &low, NULL), 0);
	fd = conn_open();
	usleep(100000);		/* accept failed, the listener paused */
	ck_assert_int_eq(prlimit(server, RLIMIT_NOFILE, &rl, NULL), 0);
	p = conn_pid(fd, 3000);
	close(fd);
	return p;
}

/* At the process limit with an idle worker, a failing accept (EMFILE)
 * pauses the listener; when the pause ends, the idle worker must get the
 * waiting connection (not only a worker's report or a reaped child may
 * turn listening on again: an idle worker sends neither until it is
 * retired a minute later). */
START_TEST(test_pause_ends_with_idle_worker)
{
	long first;
	int fd;

	start(1, 100);
	fd = conn_open();
	first = conn_pid(fd, 5000);
	close(fd);
	ck_assert_int_gt(first, 0);
	ck_assert(worker_idle(first));	/* the worker is idle again */
	ck_assert_int_eq(conn_after_accept_failure(), first);
	stop();
}
END_TEST

/* At the process limit, one process per connection: a failing accept
 * pauses the listener, which then serves the waiting connection. */
START_TEST(test_accept_failure_pauses_server)
{
	long p;
	int fd;

	start(2, 1);
	fd = conn_open();		/* the server is in its loop */
	ck_assert_int_gt(conn_pid(fd, 5000), 0);
	close(fd);
	usleep(100000);		/* and its child gone */
	p = conn_after_accept_failure();
	ck_assert_int_gt(p, 0);
	ck_assert_int_ne(p, server);
	stop();
}
END_TEST

/* Two connections at once from one address, however many processes the
 * server may have: the third is told so and closed; once one ends, the
 * address may connect again.  Both with a process per connection and
 * with workers. */
static void
per_source_limit(unsigned max_use)
{
	long p[3];
	int fd[3];

	start_tcp(10, max_use, 2);
	fd[0] = conn_open_tcp();
	fd[1] = conn_open_tcp();
	p[0] = conn_pid(fd[0], 5000);
	p[1] = conn_pid(fd[1], 5000);
	ck_assert_int_gt(p[0], 0);
	ck_assert_int_gt(p[1], 0);
	fd[2] = conn_open_tcp();
	ck_assert_msg(conn_refused(fd[2]), "a third connection was served");
	close(fd[2]);
	close(fd[0]);
	if (max_use > 1)
		ck_assert(worker_idle(p[0]));
	else
		usleep(300000);	/* its process reaped */
	fd[2] = conn_open_tcp();
	p[2] = conn_pid(fd[2], 5000);
	ck_assert_int_gt(p[2], 0);
	close(fd[1]);
	close(fd[2]);
	stop();
}

START_TEST(test_per_source_limit_processes)
{
	per_source_limit(1);
}
END_TEST

START_TEST(test_per_source_limit_workers)
{
	per_source_limit(100);
}
END_TEST

/* Exempt networks (smtpd: relay_networks) are not limited. */
START_TEST(test_per_source_exempt)
{
	int fd[3];

	exempt_loopback = 1;
	start_tcp(10, 1, 2);
	for (int i = 0; i < 3; i++) {
		fd[i] = conn_open_tcp();
		ck_assert_int_gt(conn_pid(fd[i], 5000), 0);
	}
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	stop();
	exempt_loopback = 0;
}
END_TEST

static Suite *
forkserver_suite(void)
{
	Suite *s = suite_create("forkserver");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_process_per_connection);
	tcase_add_test(tc, test_workers_reused);
	tcase_add_test(tc, test_workers_parallel_and_limit);
	tcase_add_test(tc, test_worker_max_use);
	tcase_add_test(tc, test_worker_exit_hook);
	tcase_add_test(tc, test_worker_crash_replaced);
	tcase_add_test(tc, test_connection_closed_after_child);
	tcase_add_test(tc, test_child_holds_nothing_of_the_server);
	tcase_add_test(tc, test_pause_ends_with_idle_worker);
	tcase_add_test(tc, test_accept_failure_pauses_server);
	tcase_add_test(tc, test_per_source_limit_processes);
	tcase_add_test(tc, test_per_source_limit_workers);
	tcase_add_test(tc, test_per_source_exempt);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(forkserver_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

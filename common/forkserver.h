/*
 * forkserver.h — the accept loop of a long-running server that owns
 * listening sockets (LISTEN_FDS, as systemd's Accept=no socket units and
 * posthorn-run pass them) and forks one process per connection:
 * posthorn-smtpd and posthorn-queue.  A connection costs a fork, not an
 * exec.
 *
 * Built on sd-event: one I/O source per listening socket, SIGCHLD reaps
 * finished children at once, and at max_children the listeners are
 * disabled (new connections wait in the kernel's listen queue) until one
 * ends.
 *
 * With max_use > 1 the children are workers that serve up to max_use
 * connections one after another (as Postfix's daemons do): the server
 * accepts, passes the connection to an idle worker over a socketpair
 * (SCM_RIGHTS), and forks a new worker only when none is idle.  A worker
 * idle for WORKER_IDLE_SEC is told to exit.  On this kind of machine a
 * fork costs more than a whole injection, so posthorn-queue uses
 * workers, and so does posthorn-smtpd on port 25 (smtpd_max_use; a
 * process that saw AUTH is not reused); submission and SMTPS sessions
 * get one process each (max_use 1), so no password is ever in a process
 * that serves another client.  Workers never hold a listening socket: a
 * process that has parsed a hostile client's input could otherwise shut
 * down, filter or reconfigure the socket that systemd holds for everyone
 * (letting workers accept by themselves was measured to save about
 * 0.15 ms of the time to the greeting; bench/RESULTS.md, 2026-11-23).
 * SIGTERM/SIGINT end the server without touching its children:
 * sessions in progress finish undisturbed (their process group is how a
 * supervisor stops them).
 */
#ifndef POSTHORN_FORKSERVER_H
#define POSTHORN_FORKSERVER_H

/* Runs in the child with the accepted connection (close-on-exec set),
 * listening sockets and the server's event loop (epoll, signalfd,
 * timerfd) already closed, signals back to their defaults and
 * unblocked; its return value is the child's exit status (max_use 1).
 * A worker (max_use > 1) closes conn itself after the call: the function
 * must free everything it allocated for the connection; a non-zero return
 * makes the worker exit instead of taking another connection. */
typedef int forkserver_child_fn(int conn, void *arg);

/*
 * Serve until SIGTERM/SIGINT (returns 0) or a fatal error (returns -1
 * with a log line): fds[0..n) are listening sockets, made non-blocking.
 * Sends READY=1 to the service manager once accepting.
 */
int forkserver_run(const int *fds, int n, unsigned max_children,
    unsigned max_use, forkserver_child_fn *child, void *arg);

/* In a worker (max_use > 1): fn runs when the worker is about to exit,
 * between connections (told to stop, idle too long, max_use reached, or
 * SIGTERM/SIGINT while idle, as when a supervisor stops the whole process
 * group; during a connection those keep their default action), to clean
 * up what it keeps for the next connection.  Set before forkserver_run();
 * NULL: nothing. */
void forkserver_at_worker_exit(void (*fn)(void));

/* At most max connections at once from one client address (IPv4, IPv6;
 * 0: no limit, the default; unix sockets and addresses in exempt, if not
 * NULL, are never limited), as a socket unit's MaxConnectionsPerSource=
 * does for Accept=yes: one client must not hold every process.  A
 * connection over the limit is sent refusal (if not NULL; e.g. an SMTP
 * 421 line), without waiting, and closed.  Set before forkserver_run();
 * refusal and exempt must stay valid while it runs. */
struct cidrlist;
void forkserver_per_source(unsigned max, const char *refusal,
    const struct cidrlist *exempt);

/* On unix sockets: at most max connections at once from one user id
 * (SO_PEERCRED; 0: no limit, the default), except for the uids trusted()
 * says yes to (a program of our own, which may need every process): one
 * local user must not hold every process, and with them the way in for
 * everyone else's mail.  Over the limit the connection is closed (and
 * logged).  Set before forkserver_run(). */
void forkserver_per_uid(unsigned max, bool (*trusted)(uid_t, void *),
    void *arg);

#endif

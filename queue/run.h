/*
 * run.h — the pieces of posthorn-run (queue/run.c: the event loop and
 * main; queue/run_net.c: listening sockets and the files under DIR/run;
 * queue/run_proc.c: starting, tracking and stopping children).
 */
#ifndef POSTHORN_RUN_H
#define POSTHORN_RUN_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "common/buf.h"
#include "common/config.h"

#define MAX_LISTENERS	64
#define MAX_SESSIONS	2000	/* simultaneous smtpd per listener (-a) */
#define MAX_INJECTIONS	256	/* simultaneous posthorn-queue */
#define ACCEPT_BURST	64	/* connections taken per wake-up */
#define STOP_GRACE_USEC	(10 * 1000000ULL)	/* SIGTERM, then SIGKILL */
#define BACKOFF_MIN_USEC	(500 * 1000ULL)
#define BACKOFF_MAX_USEC	(30 * 1000000ULL)
#define STABLE_USEC	(60 * 1000000ULL)	/* up this long: reset backoff */
#define PAUSE_USEC	(200 * 1000ULL)	/* after EMFILE and the like */
#define WATCHDOG_SEC	60	/* as WatchdogSec= of posthorn-send.service */

enum lkind { L_SMTP, L_SUBMISSION, L_SMTPS, L_QUEUE };

extern const char *const lkind_name[];

struct run;

struct listener {
	struct run *run;
	enum lkind kind;
	int fd;
	sd_event_source *src;
	sd_event_source *pause;
	unsigned nchildren;
	unsigned max;
	/* server mode: one long-running program owns the socket */
	pid_t server_pid;	/* 0: not running */
	sd_event_source *server_restart;
	uint64_t server_started;
	uint64_t server_backoff;
	bool server_reload;	/* stopped by SIGHUP: start again at once */
	char addr[PATH_MAX];	/* printable: "127.0.0.1:2525", "[::1]:25",
				   or the socket path */
};

struct child {
	pid_t pid;
	struct listener *l;
};

struct run {
	struct config cfg;
	char dir[PATH_MAX];
	char rundir[PATH_MAX];
	sd_event *ev;
	struct listener ls[MAX_LISTENERS];
	size_t nls;
	struct child *kids;
	size_t nkids, kcap;
	pid_t sched_pid;
	pid_t sched_pgid;	/* process group of the latest scheduler */
	char sched_prog[PATH_MAX];
	uint64_t sched_started;
	uint64_t backoff;
	sd_event_source *restart;
	uint64_t watchdog_usec;	/* WATCHDOG_USEC given to the scheduler */
	uint64_t last_ping;	/* its last WATCHDOG=1 (0: none yet) */
	sd_event_source *watchdog;
	int notify_fd;
	char notify_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool ready;
	bool stopping;
	bool per_connection;	/* -a: a program per connection */
	/* our fd 1 or 2 is a terminal: children get the write end of this
	 * pipe there instead, and the event loop copies it to our stderr */
	int logpipe[2];		/* -1, -1: none */
	bool pipe_out, pipe_err;
	dev_t qsock_dev;	/* the queue socket we bound (ino 0: none) */
	ino_t qsock_ino;
	uint64_t notify_warned;	/* last notify_ignored line (rate limit) */
	bool smtpd_drop;	/* root without a posthorn-smtpd user: */
	uid_t smtpd_uid;	/* run sessions as nobody */
	gid_t smtpd_gid;
};

/* run_net.c: sockets and files */
uint64_t now_usec(void);
int mkdir_p(const char *path, mode_t mode);
int parent_dir(const char *path, char *out, size_t outsz);
void split_sockaddr(const struct sockaddr_storage *ss, char *ip, size_t ipsz,
    char *port, size_t portsz);
int listen_spec(enum lkind kind, const char *spec, char *host,
    size_t hostsz, unsigned *port);
int bind_tcp(struct run *r, enum lkind kind, const char *spec,
    struct buf *err);
void unlink_stale_socket(const char *path);
void unlink_own_socket(const char *path, dev_t dev, ino_t ino);
int bind_queue(struct run *r, struct buf *err);
int bind_notify(struct run *r, struct buf *err);
int write_run_file(struct run *r, const char *name, const struct buf *b);

/* run_proc.c: children */
int spawn_for(struct run *r, struct listener *l, int conn);
int server_start(struct run *r, struct listener *l);
void servers_reload(struct run *r);
int sched_start(struct run *r);
void signal_all(struct run *r, int sig);
void signal_sched_orphans(struct run *r, int sig);
void signal_sched_children(struct run *r, int sig);
void reload_scheduler(struct run *r);
void smtpd_identity(struct run *r);
int find_scheduler(struct run *r, struct buf *err);
void check_programs(void);

/* run.c: the event loop */
void sched_schedule_restart(struct run *r);
void listener_pause(struct run *r, struct listener *l);
void server_schedule_restart(struct run *r, struct listener *l);

#endif

/*
 * qmain.c — posthorn-queue: the injector.  Started with one connection on
 * fd 0/1 (systemd Accept=yes, inetd), or with a listening unix socket in
 * LISTEN_FDS, in which case it forks one child per connection.  Writes
 * each message durably into the spool (queue/SPOOL.md) and wakes the
 * scheduler.  Trusts: its configuration and the spool directory; nothing
 * from its clients.  Run as root, it first becomes the spool's owner.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "common/config.h"
#include "common/log.h"
#include "queue/queue.h"
#include "queue/spool.h"

#define MAX_CHILDREN 200

static void
serve_listener(struct inject_opts *o, int lfd)
{
	int c, children = 0;
	pid_t pid;

	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		while (waitpid(-1, NULL, children >= MAX_CHILDREN ? 0 : WNOHANG)
		    > 0)
			children--;
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die(75, "accept failed", strerror(errno));
		}
		pid = fork();
		if (pid == 0) {
			close(lfd);
			o->peer_uid = peer_uid(c);
			_exit(inject_serve(o, c, c) == 0 ? 0 : 1);
		}
		if (pid > 0)
			children++;
		else
			log_msg(LOG_ERR, "fork", "reason", strerror(errno),
			    NULL);
		close(c);
	}
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	struct inject_opts o;
	const char *dir = NULL;
	int ch, n;

	log_init("posthorn-queue");
	while ((ch = getopt(argc, argv, "C:v")) != -1) {
		if (ch == 'C')
			dir = optarg;
		else if (ch == 'v')
			log_set_verbose(1);
		else
			die(64, "usage", "posthorn-queue [-v] [-C dir]");
	}
	if (config_load(config_dir(dir), &cfg, &err) == -1)
		die(78, "configuration error", buf_str(&err));
	if (spool_drop_privileges(cfg.spool) == -1)
		die(75, "cannot drop privileges", strerror(errno));
	if (spool_mkdirs(cfg.spool) == -1)
		die(75, "cannot create spool directories", strerror(errno));
	memset(&o, 0, sizeof(o));
	o.spool = cfg.spool;
	o.max_message_size = cfg.max_message_size;
	o.max_recipients = cfg.max_recipients;
	/* idle limit per frame: the client's own limit plus slack, at most a
	 * day (and never overflowing an int of milliseconds) */
	o.timeout_ms = (int)((cfg.smtp_timeout > 86400 ? 86400 :
	    cfg.smtp_timeout) + 300) * 1000;
	signal(SIGPIPE, SIG_IGN);
	n = sd_listen_fds(1);
	if (n > 1)
		die(64, "expected one listening socket", "");
	if (n == 1)
		serve_listener(&o, SD_LISTEN_FDS_START);
	o.peer_uid = peer_uid(0);
	return inject_serve(&o, 0, 1) == 0 ? 0 : 1;
}

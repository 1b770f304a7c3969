/*
 * server.c — how posthorn-smtpd gets its connections and its privileges.
 *
 * Either one session on fd 0/1 (systemd Accept=yes, inetd, tcpserver,
 * posthorn-run -a) or, when started with LISTEN_FDS (posthorn-run), an
 * accept loop (common/forkserver.c) that forks session processes, each
 * serving up to smtpd_max_use connections (keeping the local tables
 * from one to the next while their files do not change).  A single
 * session loads the local tables and the TLS certificate, then, if
 * running as root, becomes the user posthorn-smtpd (refusing to go on as
 * root when that user does not exist) before it reads a single octet
 * from the peer; a session process of the accept loop becomes that user
 * as soon as it starts (the server holds the TLS context, loaded before
 * forking).
 * The client address comes from getpeername(), or from TCPREMOTEIP when
 * fd 0 is not a socket (tcpserver, tests); its reverse DNS name is only
 * ever used in the Received header and the log, and is looked up after
 * the greeting was sent (session.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "common/cidr.h"
#include "common/filesig.h"
#include "common/forkserver.h"
#include "common/log.h"
#include "common/pdeath.h"
#include "smtpd/smtpd.h"

#define SMTPD_USER	"posthorn-smtpd"
#define MAX_LISTEN	16
#define MAX_CHILDREN	2000	/* sessions at once */
#define PER_SOURCE	20	/* sessions at once from one address outside */
#define PER_SOURCE_SUBMIT 10	/* relay_networks (as the socket units) */

static int
drop_privileges(void)
{
	struct passwd *pw;
	struct pdeath pd;

	if (geteuid() != 0)
		return 0;
	pw = getpwnam(SMTPD_USER);
	if (pw == NULL || pw->pw_uid == 0) {
		log_msg(LOG_ERR, "fatal", "reason", "running as root and no "
		    "user " SMTPD_USER " to switch to", (char *)NULL);
		return -1;
	}
	/* posthorn-run's parent-death signal survives the switch */
	pdeath_save(&pd);
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0 || setuid(0) == 0 ||
	    pdeath_restore(&pd) != 0) {
		log_msg(LOG_ERR, "fatal", "reason", "cannot drop privileges",
		    (char *)NULL);
		return -1;
	}
	return 0;
}

/* The local tables, kept from one session to the next in a process that
 * serves several: reloaded when any of the files changed (device, inode,
 * size, modification or change time; a file that appeared or went away),
 * so that a changed table is seen by the next session.  The files are
 * stat'ed before they are read, so a change during the read is seen as
 * a change next time. */
static struct {
	bool have;		/* t holds loaded tables */
	bool valid;		/* and sig says which files they came from */
	struct local_tables t;
	struct file_sig sig[3];
} tcache;

static const struct local_tables *
tables_get(const struct config *cfg, struct buf *err)
{
	const char *paths[3] = { cfg->mailboxes, cfg->aliases,
	    cfg->relocated };
	struct file_sig now[3];
	bool same = tcache.valid, cacheable = true;

	for (int i = 0; i < 3; i++) {
		file_sig_get(paths[i], &now[i]);
		if (now[i].err != 0 && now[i].err != ENOENT)
			cacheable = false;	/* the load reports it */
		if (!file_sig_same(&now[i], &tcache.sig[i]))
			same = false;
	}
	if (same)
		return &tcache.t;
	if (tcache.have)
		local_tables_free(&tcache.t);
	tcache.have = tcache.valid = false;
	if (local_tables_load(cfg, &tcache.t, err) != 0)
		return NULL;
	tcache.have = true;
	tcache.valid = cacheable;
	memcpy(tcache.sig, now, sizeof(now));
	return &tcache.t;
}

/* ::ffff:192.0.2.1 (a dual-stack listener) is shown as 192.0.2.1. */
static void
unmap_v4(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in s4;

	if (ss->ss_family != AF_INET6 ||
	    !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &s4, sizeof(s4));
}

static void
peer_address(struct session *s, int fd)
{
	socklen_t len = sizeof(s->peer);
	const char *env;

	if (getpeername(fd, (struct sockaddr *)&s->peer, &len) == 0 &&
	    (s->peer.ss_family == AF_INET || s->peer.ss_family == AF_INET6)) {
		s->peer_known = true;
	} else if ((env = getenv("TCPREMOTEIP")) != NULL &&
	    ip_parse(env, &s->peer) == 0) {
		s->peer_known = true;
	}
	if (s->peer_known)
		unmap_v4(&s->peer);
	if (s->peer_known)
		ip_format((struct sockaddr *)&s->peer, s->peer_ip,
		    sizeof(s->peer_ip));
	if (!s->peer_known || s->peer_ip[0] == '\0')
		snprintf(s->peer_ip, sizeof(s->peer_ip), "unknown");
}

bool
smtpd_name_has_peer(const char *name, const struct sockaddr_storage *peer)
{
	struct addrinfo hints, *res = NULL, *ai;
	unsigned char tmp[sizeof(struct in6_addr)];
	bool found = false;

	if (inet_pton(AF_INET, name, tmp) == 1 ||
	    inet_pton(AF_INET6, name, tmp) == 1)
		return false;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = peer->ss_family;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(name, NULL, &hints, &res) != 0)
		return false;
	for (ai = res; ai != NULL && !found; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET && peer->ss_family == AF_INET)
			found = memcmp(&((const struct sockaddr_in *)(const
			    void *)ai->ai_addr)->sin_addr, &((const struct
			    sockaddr_in *)(const void *)peer)->sin_addr,
			    sizeof(struct in_addr)) == 0;
		else if (ai->ai_family == AF_INET6 &&
		    peer->ss_family == AF_INET6)
			found = memcmp(&((const struct sockaddr_in6 *)(const
			    void *)ai->ai_addr)->sin6_addr, &((const struct
			    sockaddr_in6 *)(const void *)peer)->sin6_addr,
			    sizeof(struct in6_addr)) == 0;
	}
	freeaddrinfo(res);
	return found;
}

/*
 * The peer's name for the logs and Received: its PTR name, kept only if
 * that name resolves back to the peer's address (forward-confirmed, as
 * Postfix does): whoever controls a PTR record could otherwise put any
 * name there, such as a large provider's.  "" (unknown) otherwise.
 */
static void
reverse_dns(struct session *s)
{
	socklen_t len = s->peer.ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

	if (!s->cfg->reverse_dns || !s->peer_known)
		return;	/* also SMTPD_LOCAL: no peer */
	if (getnameinfo((struct sockaddr *)&s->peer, len, s->peer_name,
	    sizeof(s->peer_name), NULL, 0, NI_NAMEREQD) != 0)
		s->peer_name[0] = '\0';
	else if (!smtpd_name_has_peer(s->peer_name, &s->peer)) {
		log_msg(LOG_INFO, "reverse_dns", "client", s->peer_ip,
		    "name", s->peer_name, "reason", "does not resolve back to "
		    "the address", (char *)NULL);
		s->peer_name[0] = '\0';
	}
}

static void
refuse(int wfd, const struct config *cfg, const char *why)
{
	struct buf b = BUF_INIT;

	log_msg(LOG_ERR, "session_failed", "reason", why, (char *)NULL);
	if (buf_printf(&b, "421 4.3.0 %s Service not available\r\n",
	    cfg->hostname) == 0)
		(void)io_write_all(wfd, b.data, b.len, 5000);
	buf_free(&b);
}

/* Is fd a TCP/IP socket (a network peer, whatever the command line says)? */
static bool
is_inet_socket(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
}

/* One session; *reusable says whether this process may serve another
 * (no AUTH was seen). */
static int
serve_session(const struct config *cfg, unsigned mode, int rfd, int wfd,
    bool *reusable)
{
	const struct local_tables *t;
	struct smtpd_sink sink;
	struct session s;
	struct buf err = BUF_INIT;

	/* --local relays like the sendmail command line: only for the
	 * caller's own pipes or local socket, never for a network peer (an
	 * inetd line running 'sendmail -bs' hands us a TCP connection) */
	if ((mode & SMTPD_LOCAL) && (is_inet_socket(rfd) ||
	    is_inet_socket(wfd))) {
		log_msg(LOG_WARNING, "local_refused", "reason", "--local on a "
		    "network connection: served as a network client",
		    (char *)NULL);
		mode &= ~(unsigned)SMTPD_LOCAL;
	}
	t = tables_get(cfg, &err);
	if (t == NULL) {
		refuse(wfd, cfg, buf_str(&err));
		buf_free(&err);
		return 111;
	}
	buf_free(&err);
	smtpd_queue_sink(&sink, cfg);
	if (session_init(&s, cfg, t, &sink, mode, rfd, wfd) != 0) {
		refuse(wfd, cfg, "out of memory");
		return 111;
	}
	s.tls_available = tls_usable(cfg);
	if (geteuid() == 0 && s.tls_available)
		(void)tls_session_ctx(&s);	/* the key may be root's */
	if (mode & SMTPD_LOCAL) {
		/* sendmail -bs: no network peer; the queue records the
		 * caller's uid (SO_PEERCRED) and the Received header names
		 * it */
		s.local_uid = (long)getuid();
		snprintf(s.peer_ip, sizeof(s.peer_ip), "local");
	} else
		peer_address(&s, rfd);
	if (drop_privileges() != 0) {
		session_free(&s);
		refuse(wfd, cfg, "cannot drop privileges");
		return 111;
	}
	/* nothing this process runs may gain privileges; no core dumps or
	 * ptrace of a process that sees passwords */
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	s.peer_lookup = reverse_dns;
	session_run(&s);
	*reusable = !s.auth_seen;
	session_free(&s);
	return 0;
}

int
smtpd_serve_fd(const struct config *cfg, unsigned mode, int rfd, int wfd)
{
	bool reusable;

	return serve_session(cfg, mode, rfd, wfd, &reusable);
}

struct session_args {
	const struct config *cfg;
	unsigned mode;
};

/* A worker that saw AUTH leaves (forkserver: non-zero = do not reuse).
 * A session process of the server becomes posthorn-smtpd before its first
 * session, not during it: a reused process cannot get root back, so its
 * first session must not read the local tables with more rights than the
 * ones after it (a root-only table answered the first client and refused
 * the next with 421).  The server loaded the TLS key before forking. */
static int
session_child(int conn, void *arg)
{
	const struct session_args *a = arg;
	bool reusable = false;
	int rc;

	if (drop_privileges() != 0) {
		refuse(conn, a->cfg, "cannot drop privileges");
		return 111;
	}
	rc = serve_session(a->cfg, a->mode, conn, conn, &reusable);
	return rc != 0 ? rc : reusable ? 0 : 1;
}

static int
listen_loop(const struct config *cfg, unsigned mode, int n)
{
	struct session_args a = { cfg, mode };
	static struct buf refusal = BUF_INIT;
	int fds[MAX_LISTEN];
	unsigned max_use;

	if (n > MAX_LISTEN)
		n = MAX_LISTEN;
	for (int i = 0; i < n; i++)
		fds[i] = SD_LISTEN_FDS_START + i;
	/* every session (and worker) shares one TLS context */
	(void)tls_preload(cfg);
	/* sessions that may carry passwords always get a fresh process */
	max_use = mode & SMTPD_SUBMISSION ? 1 : (unsigned)cfg->smtpd_max_use;
	/* one client must not hold every session process (relay_networks
	 * excepted, as Postfix's anvil excepts mynetworks); under implicit
	 * TLS a plaintext reply would be noise, so it only sees the close */
	if (!(mode & SMTPD_SMTPS))
		(void)buf_printf(&refusal, "421 4.7.0 %s Too many connections "
		    "from your address\r\n", cfg->hostname);
	forkserver_per_source(mode & (SMTPD_SUBMISSION | SMTPD_SMTPS) ?
	    PER_SOURCE_SUBMIT : PER_SOURCE, refusal.len > 0 ?
	    buf_str(&refusal) : NULL, &cfg->relay_networks);
	return forkserver_run(fds, n, MAX_CHILDREN, max_use, session_child,
	    &a) == 0 ? 0 : 111;
}

/* inetd hands the connection over as fd 2 too: log lines must never
 * reach the client (posthorn(7) puts a logger in between; without one,
 * the lines are dropped rather than sent into the SMTP stream). */
static void
protect_stderr(void)
{
	struct stat s0, s2;
	int null;

	if (fstat(0, &s0) != 0 || fstat(2, &s2) != 0 ||
	    !S_ISSOCK(s2.st_mode) || s0.st_dev != s2.st_dev ||
	    s0.st_ino != s2.st_ino)
		return;
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null == -1) {
		close(2);
		return;
	}
	dup2(null, 2);
	close(null);
}

int
smtpd_serve(const char *confdir, unsigned mode)
{
	static struct config cfg;
	struct buf err = BUF_INIT;
	int n;

	protect_stderr();
	signal(SIGPIPE, SIG_IGN);
	if (config_load(confdir, &cfg, &err) != 0)
		die(78, "bad configuration", buf_str(&err));
	n = (mode & SMTPD_LOCAL) ? 0 : sd_listen_fds(1);
	if (n < 0)
		die(111, "LISTEN_FDS", strerror(-n));
	/* Accept=yes without StandardInput=socket: one connected socket */
	if (n == 1 && sd_is_socket(SD_LISTEN_FDS_START, AF_UNSPEC,
	    SOCK_STREAM, 0) > 0)
		return smtpd_serve_fd(&cfg, mode, SD_LISTEN_FDS_START,
		    SD_LISTEN_FDS_START);
	if (n > 0)
		return listen_loop(&cfg, mode, n);
	return smtpd_serve_fd(&cfg, mode, 0, 1);
}

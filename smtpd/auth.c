/*
 * auth.c — SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms, only on submission sessions and only inside TLS, and the
 * checkpassword-interface client that verifies the credentials.
 *
 * The password goes to the verifier program on a pipe as fd 3
 * ("user\0password\0timestamp\0", the qmail checkpassword interface) and
 * nowhere else: it is never logged, and every copy is wiped.  Failed
 * attempts are answered more slowly each time.  Input: base64 lines from
 * the peer (hostile, at most 12288 octets, RFC 4954 §4).  Trust: the
 * configured checkpassword program's exit code.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/log.h"
#include "smtpd/smtpd.h"

#define AUTH_LINE_MAX	12288
/* The checkpassword interface carries at most 512 octets on fd 3: user,
 * NUL, password, NUL, the timestamp (at most 20 digits), NUL.  Longer
 * credentials could never be verified; they are refused as invalid. */
#define AUTH_USER_MAX	255
#define AUTH_PASS_MAX	(512 - AUTH_USER_MAX - 1 - 1 - 20 - 1)
#define CHECKPW_TIMEOUT_MS	30000

static int
auth_precheck(struct session *s)
{
	if (!(s->mode & SMTPD_SUBMISSION)) {
		session_reply(s, 502, "5.5.1", "AUTH not available");
		return -1;
	}
	if (!s->tls) {
		session_reply(s, 538, "5.7.11", "Encryption required for "
		    "requested authentication mechanism");
		return -1;
	}
	if (s->auth_user != NULL) {
		session_reply(s, 503, "5.5.1", "Already authenticated");
		return -1;
	}
	if (s->in_txn) {
		session_reply(s, 503, "5.5.1",
		    "AUTH not allowed during a mail transaction");
		return -1;
	}
	return 0;
}

static void
wipe(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

/* Send a 334 challenge and read the base64 answer into out (decoded).
 * 0 ok, -1 replied/failed already. */
static int
challenge(struct session *s, const char *b64, struct buf *out)
{
	enum line_end end;
	int r;

	/* room for the longest answer at once: no reallocation leaves a
	 * copy of it behind */
	(void)buf_reserve(&s->line, AUTH_LINE_MAX + 1);
	stream_printf(&s->io, "334 %s\r\n", b64);
	if (stream_flush(&s->io) != 0) {
		s->done = true;
		return -1;
	}
	r = stream_getline(&s->io, &s->line, AUTH_LINE_MAX, &end);
	if (r == STREAM_TOOLONG) {
		session_reply(s, 500, "5.5.6", "Authentication exchange line "
		    "too long");
		return -1;
	}
	if (r != STREAM_LINE || end == LINE_EOF) {
		if (r == STREAM_ERR && errno == ETIMEDOUT)
			session_reply(s, 421, "4.4.2", "%s Timeout, closing "
			    "connection", s->cfg->hostname);
		s->done = true;
		return -1;
	}
	if (end != LINE_CRLF &&
	    s->cfg->bare_newline != BARE_NEWLINE_NORMALIZE) {
		wipe(&s->line);
		session_bare_newline(s);
		return -1;
	}
	if (s->line.len == 1 && s->line.data[0] == '*') {
		session_reply(s, 501, "5.0.0", "Authentication cancelled");
		return -1;
	}
	buf_reset(out);
	r = base64_decode(buf_str(&s->line), s->line.len, out);
	wipe(&s->line);
	if (r != 0) {
		session_reply(s, 501, "5.5.2", "Invalid base64 data");
		return -1;
	}
	return 0;
}

static int
decode_initial(struct session *s, const char *init, struct buf *out)
{
	if (strcmp(init, "=") == 0) {
		buf_reset(out);
		return buf_append(out, "", 0);
	}
	buf_reset(out);
	if (base64_decode(init, strlen(init), out) != 0) {
		session_reply(s, 501, "5.5.2", "Invalid base64 data");
		return -1;
	}
	return 0;
}

static bool
text_ok(const char *p, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 32 || (unsigned char)p[i] == 127)
			return false;
	return true;
}

/* PLAIN: [authzid] NUL authcid NUL passwd */
static int
plain_split(const struct buf *b, struct buf *user, struct buf *pass)
{
	const char *p = b->data, *n1, *n2;
	size_t len = b->len;

	if (p == NULL || (n1 = memchr(p, '\0', len)) == NULL)
		return -1;
	n2 = memchr(n1 + 1, '\0', len - (size_t)(n1 + 1 - p));
	if (n2 == NULL)
		return -1;
	if (buf_set(user, n1 + 1, (size_t)(n2 - n1 - 1)) != 0 ||
	    buf_set(pass, n2 + 1, len - (size_t)(n2 + 1 - p)) != 0)
		return -1;
	/* an authorization identity other than the user is not allowed */
	if (n1 != p && ((size_t)(n1 - p) != user->len ||
	    memcmp(p, user->data, user->len) != 0))
		return -1;
	return 0;
}

static int
get_credentials(struct session *s, const char *mech, const char *init,
    struct buf *user, struct buf *pass)
{
	struct buf tmp = BUF_INIT;
	int r;

	if (strcasecmp(mech, "PLAIN") == 0) {
		r = init != NULL ? decode_initial(s, init, &tmp) :
		    challenge(s, "", &tmp);
		if (r == 0 && plain_split(&tmp, user, pass) != 0) {
			session_reply(s, 501, "5.5.2",
			    "Malformed PLAIN response");
			r = -1;
		}
		wipe(&tmp);
		return r;
	}
	if (strcasecmp(mech, "LOGIN") == 0) {
		r = init != NULL ? decode_initial(s, init, user) :
		    challenge(s, "VXNlcm5hbWU6", user);
		if (r == 0)
			r = challenge(s, "UGFzc3dvcmQ6", pass);
		return r;
	}
	session_reply(s, 504, "5.5.4", "Unrecognized authentication type");
	return -1;
}

static void
auth_delay(struct session *s)
{
	unsigned n = s->auth_failures > 5 ? 5 : s->auth_failures;
	long ms = (long)s->auth_delay_ms * (long)n;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (ms > 0)
		nanosleep(&ts, NULL);
}

static void
verify(struct session *s, struct buf *user, struct buf *pass)
{
	int r;

	if (!text_ok(user->data, user->len, AUTH_USER_MAX) ||
	    !text_ok(pass->data, pass->len, AUTH_PASS_MAX)) {
		s->auth_failures++;
		auth_delay(s);
		session_reply(s, 535, "5.7.8",
		    "Authentication credentials invalid");
		return;
	}
	r = s->sink->checkpass(s->sink->arg, user->data, pass->data);
	if (r < 0) {
		log_msg(LOG_ERR, "auth_tempfail", "client", s->peer_ip,
		    (char *)NULL);
		session_reply(s, 454, "4.7.0",
		    "Temporary authentication failure");
		return;
	}
	if (r == 0) {
		s->auth_failures++;
		log_msg(LOG_NOTICE, "auth_failed", "client", s->peer_ip,
		    "user", user->data, (char *)NULL);
		auth_delay(s);
		session_reply(s, 535, "5.7.8",
		    "Authentication credentials invalid");
		return;
	}
	s->auth_user = strdup(user->data);
	if (s->auth_user == NULL) {
		session_reply(s, 454, "4.7.0",
		    "Temporary authentication failure");
		return;
	}
	log_msg(LOG_INFO, "auth", "client", s->peer_ip, "user",
	    s->auth_user, (char *)NULL);
	session_reply(s, 235, "2.7.0", "Authentication successful");
}

void
auth_command(struct session *s, const char *args)
{
	struct buf user = BUF_INIT, pass = BUF_INIT;
	char mech[32];
	const char *init = NULL;
	size_t n = strcspn(args, " ");

	s->auth_seen = true;	/* credentials may pass through us now */
	if (auth_precheck(s) != 0)
		return;
	if (n == 0 || n >= sizeof(mech)) {
		session_reply(s, 504, "5.5.4",
		    "Unrecognized authentication type");
		return;
	}
	memcpy(mech, args, n);
	mech[n] = '\0';
	if (args[n] == ' ') {
		init = args + n + 1;
		if (*init == '\0' || strchr(init, ' ') != NULL) {
			session_reply(s, 501, "5.5.4", "Syntax: AUTH "
			    "mechanism [initial-response]");
			return;
		}
	}
	if (get_credentials(s, mech, init, &user, &pass) == 0)
		verify(s, &user, &pass);
	wipe(&user);
	wipe(&pass);
	/* the command line (init points into it) and what the stream read
	 * may hold the credentials too */
	if (s->line.data != NULL)
		explicit_bzero(s->line.data, s->line.cap);
	buf_reset(&s->line);
	stream_wipe_consumed(&s->io);
}

/* ---- the checkpassword interface ---------------------------------------- */

static const char *
true_path(void)
{
	return access("/usr/bin/true", X_OK) == 0 ? "/usr/bin/true" :
	    "/bin/true";
}

static void __attribute__((noreturn))
checkpw_child(const struct config *cfg, int rfd)
{
	char *argv[3];
	int null;

	if (rfd == 3)
		io_set_cloexec(3, 0);
	else if (dup2(rfd, 3) == -1)
		_exit(111);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null == -1 || dup2(null, 0) == -1 || dup2(null, 1) == -1)
		_exit(111);
	signal(SIGPIPE, SIG_DFL);
	if (cfg->dir != NULL)
		setenv("POSTHORN_CONF", cfg->dir, 1);
	argv[0] = cfg->checkpassword;
	argv[1] = (char *)(uintptr_t)true_path();
	argv[2] = NULL;
	execv(cfg->checkpassword, argv);
	_exit(111);
}

/* Wait for pid at most CHECKPW_TIMEOUT_MS; its exit status or -1. */
static int
wait_child(pid_t pid)
{
	struct timespec tick = { 0, 10 * 1000000L };
	int status, waited = 0;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (r == -1 && errno != EINTR)
			return -1;
		if (waited >= CHECKPW_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) == -1 &&
			    errno == EINTR)
				;
			return -1;
		}
		nanosleep(&tick, NULL);
		waited += 10;
	}
}

int
checkpassword_run(const struct config *cfg, const char *user,
    const char *pass)
{
	struct buf b = BUF_INIT;
	int p[2], st;
	pid_t pid;

	if (cfg->checkpassword == NULL || pipe2(p, O_CLOEXEC) == -1)
		return -1;
	/* all of it in one allocation: no reallocation leaves a copy */
	if (buf_reserve(&b, strlen(user) + strlen(pass) + 32) != 0 ||
	    buf_append(&b, user, strlen(user) + 1) != 0 ||
	    buf_append(&b, pass, strlen(pass) + 1) != 0 ||
	    buf_printf(&b, "%lld", (long long)time(NULL)) != 0 ||
	    buf_append(&b, "", 1) != 0) {
		wipe(&b);
		close(p[0]);
		close(p[1]);
		return -1;
	}
	pid = fork();
	if (pid == -1) {
		wipe(&b);
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0)
		checkpw_child(cfg, p[0]);
	close(p[0]);
	/* a verifier that exits early makes this EPIPE; its status rules */
	(void)io_write_all(p[1], b.data, b.len, CHECKPW_TIMEOUT_MS);
	close(p[1]);
	wipe(&b);
	st = wait_child(pid);
	if (st == 0)
		return 1;
	if (st == 1)
		return 0;
	log_msg(LOG_ERR, "checkpassword_failed", "program",
	    cfg->checkpassword, "status", st == 111 ? "111" : "other",
	    (char *)NULL);
	return -1;
}

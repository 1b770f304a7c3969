/*
 * test_remote_smtp.c — helpers of the SMTP client (remote/smtp.c): EHLO
 * keyword parsing (SIZE values, case, prefixes that are not keywords),
 * enhanced status class rewriting, 8-bit detection; and one whole
 * transaction against a scripted peer on a socketpair, for the DSN
 * hand-over mark (RFC 3461 4.2); a TCP connection made by smtp_open()
 * has Nagle's algorithm off; a write after a slow reply gets a whole
 * command timeout; the certificate name checks of tls_client_handshake()
 * (no partial wildcards, RFC 7672 3.2.3 / RFC 6125 6.4.3) and the reason
 * a verification failure gives the administrator; TLS 1.2 at least where
 * TLS is mandatory, and TLS 1.0 and 1.1 still taken opportunistically;
 * which kept connections meet the next job's TLS policy.
 */
#include <arpa/inet.h>
#include <check.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/agent.h"
#include "remote/smtp.h"
#include "remote/tls.h"

static void
ehlo(const char *line, unsigned *ext, uint64_t *size)
{
	smtp_parse_ehlo_line(line, strlen(line), ext, size);
}

/* OpenSSL's default trust store is read only when the context is first
 * used (tls_ctx_ready), never when it is made; an explicit CA file at once. */
static int
store_size(SSL_CTX *ctx)
{
	STACK_OF(X509_OBJECT) *objs =
	    X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));

	return objs == NULL ? 0 : sk_X509_OBJECT_num(objs);
}

START_TEST(trust_store_lazy)
{
	struct buf err = BUF_INIT;
	SSL_CTX *ctx = tls_client_ctx(NULL, &err);
	SSL_CTX *other;

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(store_size(ctx), 0);
	other = tls_client_ctx(NULL, &err);	/* the pending one now */
	ck_assert_ptr_nonnull(other);
	tls_ctx_ready(ctx);		/* not pending: nothing read */
	ck_assert_int_eq(store_size(ctx), 0);
	tls_ctx_ready(other);
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0)
		ck_assert_int_gt(store_size(other), 0);
	SSL_CTX_free(ctx);
	SSL_CTX_free(other);
	ck_assert_ptr_null(tls_client_ctx("/nonexistent/ca.pem", &err));
	ck_assert_int_gt((int)err.len, 0);
	buf_free(&err);
}
END_TEST

START_TEST(ehlo_keywords)
{
	unsigned ext = 0;
	uint64_t size = 0;

	ehlo("PIPELINING", &ext, &size);
	ehlo("size 1000", &ext, &size);
	ehlo("8BITMIME", &ext, &size);
	ehlo("StartTLS", &ext, &size);
	ehlo("DSN", &ext, &size);
	ehlo("SMTPUTF8", &ext, &size);
	ehlo("ENHANCEDSTATUSCODES", &ext, &size);
	ck_assert_uint_eq(ext, EXT_PIPELINING | EXT_SIZE | EXT_8BITMIME |
	    EXT_STARTTLS | EXT_DSN | EXT_SMTPUTF8 | EXT_ENHANCED);
	ck_assert_uint_eq(size, 1000);
}
END_TEST

START_TEST(ehlo_not_keywords)
{
	unsigned ext = 0;
	uint64_t size = 7;

	ehlo("PIPELININGX", &ext, &size);
	ehlo("DSNX", &ext, &size);
	ehlo("SIZEX 5", &ext, &size);
	ehlo("8BITMIM", &ext, &size);
	ehlo("", &ext, &size);
	ck_assert_uint_eq(ext, 0);
	ck_assert_uint_eq(size, 7);
	/* SIZE without a number: no limit; absurd numbers: no limit */
	ehlo("SIZE", &ext, &size);
	ck_assert_uint_eq(ext, EXT_SIZE);
	ck_assert_uint_eq(size, 7);
	ehlo("SIZE 99999999999999999999999999", &ext, &size);
	ck_assert_uint_eq(size, 0);
	ehlo("SIZE 0", &ext, &size);
	ck_assert_uint_eq(size, 0);
}
END_TEST

START_TEST(dsn_class)
{
	char out[16];

	dsn_with_class("5.7.1", '4', out);
	ck_assert_str_eq(out, "4.7.1");
	dsn_with_class("2.1.10", '5', out);
	ck_assert_str_eq(out, "5.1.10");
	dsn_with_class("", '4', out);
	ck_assert_str_eq(out, "4.0.0");
	dsn_with_class("garbage", '5', out);
	ck_assert_str_eq(out, "5.0.0");
	/* in place */
	memcpy(out, "5.3.4", 6);
	dsn_with_class(out, '4', out);
	ck_assert_str_eq(out, "4.3.4");
}
END_TEST

START_TEST(eightbit)
{
	ck_assert(!str_has_8bit("plain@example.org"));
	ck_assert(str_has_8bit("\xc3\xbc@example.org"));
	ck_assert(!str_has_8bit(""));
}
END_TEST

/* Read one line (up to LF) from fd into b; 0 at EOF. */
static size_t
peer_line(int fd, char *b, size_t n)
{
	size_t i = 0;

	while (i + 1 < n && read(fd, b + i, 1) == 1)
		if (b[i++] == '\n')
			break;
	b[i] = '\0';
	return i;
}

static void
peer_say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		_exit(3);
}

/* A minimal SMTP server: EHLO offers DSN when dsn; a RCPT without
 * NOTIFY=SUCCESS is refused when dsn (so the test sees it was passed). */
static void
peer_serve(int fd, int dsn)
{
	char l[1024];

	while (peer_line(fd, l, sizeof(l)) > 0) {
		if (strncmp(l, "EHLO ", 5) == 0)
			peer_say(fd, dsn ? "250-peer.example\r\n250 DSN\r\n" :
			    "250 peer.example\r\n");
		else if (strncmp(l, "MAIL ", 5) == 0)
			peer_say(fd, "250 2.1.0 ok\r\n");
		else if (strncmp(l, "RCPT ", 5) == 0)
			peer_say(fd, !dsn || strstr(l, " NOTIFY=SUCCESS") ?
			    "250 2.1.5 ok\r\n" : "550 5.5.4 no NOTIFY\r\n");
		else if (strncmp(l, "DATA", 4) == 0) {
			peer_say(fd, "354 go\r\n");
			while (peer_line(fd, l, sizeof(l)) > 0 &&
			    strcmp(l, ".\r\n") != 0)
				;
			peer_say(fd, "250 2.0.0 queued as X1\r\n");
		} else if (strncmp(l, "RSET", 4) == 0)
			peer_say(fd, "250 2.0.0 reset\r\n");
		else if (strncmp(l, "QUIT", 4) == 0) {
			peer_say(fd, "221 bye\r\n");
			break;
		} else
			peer_say(fd, "500 5.5.1 what\r\n");
	}
	_exit(0);
}

static void
peer(int fd, int dsn)
{
	peer_say(fd, "220 peer.example ESMTP\r\n");
	peer_serve(fd, dsn);
}

/* One message to one recipient with NOTIFY; returns the result. */
static void
one_transaction(int dsn, unsigned notify, struct rres *res)
{
	static const char msg[] = "Subject: t\n\nbody\n";
	struct smtp_params p;
	struct smtp_conn c;
	struct envelope env;
	struct body_info info;
	char path[] = "/tmp/test_remote_smtp.XXXXXX";
	bool todo[1] = { true };
	int sv[2], msgfd, st;
	pid_t pid;

	msgfd = mkstemp(path);
	ck_assert_int_ge(msgfd, 0);
	unlink(path);
	ck_assert_int_eq(write(msgfd, msg, sizeof(msg) - 1),
	    (ssize_t)sizeof(msg) - 1);
	ck_assert_int_eq(body_scan(msgfd, sizeof(msg) - 1, &info), 0);
	envelope_init(&env);
	ck_assert_int_eq(envelope_set_sender(&env, "s@example.org"), 0);
	ck_assert_int_ge(envelope_add_rcpt(&env, "r@example.net", notify,
	    NULL), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		peer(sv[1], dsn);
	}
	close(sv[1]);
	memset(&p, 0, sizeof(p));
	p.helo = "me.example";
	p.tls = SMTP_TLS_NONE;
	p.connect_ms = p.cmd_ms = p.data_init_ms = 5000;
	p.data_block_ms = p.data_end_ms = 5000;
	ck_assert_int_eq(smtp_start(&c, sv[0], "peer.example", "peer[sock]",
	    &p), 0);
	memset(res, 0, sizeof(*res));
	ck_assert_int_eq(smtp_transaction(&c, &env, todo, msgfd, &info, res),
	    0);
	smtp_quit(&c);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	envelope_free(&env);
	close(msgfd);
}

/* RFC 3461 4.2: a peer that does DSN takes the success notice over. */
START_TEST(dsn_passed_on)
{
	struct rres res;

	one_transaction(1, NOTIFY_SUCCESS | NOTIFY_FAILURE, &res);
	ck_assert_int_eq(res.status, 'D');
	ck_assert_str_eq(res.dsn, "2.0.0");
	ck_assert_str_eq(res.text, AGENT_TEXT_DSN_PASSED
	    "250 2.0.0 queued as X1");
	/* no DSN at the peer: we still owe the notice, no mark */
	one_transaction(0, NOTIFY_SUCCESS, &res);
	ck_assert_int_eq(res.status, 'D');
	ck_assert_str_eq(res.text, "250 2.0.0 queued as X1");
	/* DSN at the peer but no NOTIFY given: nothing was passed on */
	one_transaction(1, 0, &res);
	ck_assert_int_eq(res.status, 'P');
	ck_assert_str_eq(res.dsn, "5.5.4");
}
END_TEST

/* Every write of the client is a whole command group or the end of a
 * message; with Nagle's algorithm the last small one waits for the
 * peer's delayed ACK.  smtp_open() turns it off. */
START_TEST(tcp_nodelay)
{
	struct sockaddr_in sin;
	struct smtp_params p;
	struct smtp_conn c;
	socklen_t len = sizeof(sin);
	int lfd, fd, st, on = 0;
	pid_t pid;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			_exit(2);
		peer(fd, 0);
	}
	close(lfd);
	memset(&p, 0, sizeof(p));
	p.helo = "me.example";
	p.tls = SMTP_TLS_NONE;
	p.connect_ms = p.cmd_ms = p.data_init_ms = 5000;
	p.data_block_ms = p.data_end_ms = 5000;
	ck_assert_int_eq(smtp_open(&c, "peer.example",
	    (struct sockaddr *)&sin, &p), 0);
	len = sizeof(on);
	ck_assert_int_eq(getsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &on,
	    &len), 0);
	ck_assert_int_ne(on, 0);
	smtp_quit(&c);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

/* A peer that answers EHLO late, then reads nothing for a while. */
static void
slow_peer(int fd)
{
	char l[1024];

	peer_say(fd, "220 peer.example ESMTP\r\n");
	if (peer_line(fd, l, sizeof(l)) == 0)
		_exit(2);
	usleep(3500 * 1000);	/* most of the client's 4 s for the reply */
	peer_say(fd, "250-peer.example\r\n250 PIPELINING\r\n");
	usleep(1500 * 1000);	/* the client's command group must wait */
	peer_serve(fd, 0);
}

/* Every write gets the command timeout of its own, not what a slow
 * reply before it left of the reply's (RFC 5321 4.5.3.2). */
START_TEST(write_deadline_own)
{
	static const char msg[] = "Subject: t\n\nbody\n";
	struct smtp_params p;
	struct smtp_conn c;
	struct envelope env;
	struct body_info info;
	struct rres *res;
	char path[] = "/tmp/test_remote_smtp.XXXXXX", addr[128];
	bool todo[200];
	int sv[2], msgfd, st, small = 4096;
	size_t i;
	pid_t pid;

	msgfd = mkstemp(path);
	ck_assert_int_ge(msgfd, 0);
	unlink(path);
	ck_assert_int_eq(write(msgfd, msg, sizeof(msg) - 1),
	    (ssize_t)sizeof(msg) - 1);
	ck_assert_int_eq(body_scan(msgfd, sizeof(msg) - 1, &info), 0);
	envelope_init(&env);
	ck_assert_int_eq(envelope_set_sender(&env, "s@example.org"), 0);
	/* a command group far larger than the socket buffer */
	for (i = 0; i < 200; i++) {
		snprintf(addr, sizeof(addr), "recipient-number-%03zu-with-a-"
		    "rather-long-local-part@example.net", i);
		ck_assert_int_ge(envelope_add_rcpt(&env, addr, 0, NULL), 0);
		todo[i] = true;
	}
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small)), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		slow_peer(sv[1]);
	}
	close(sv[1]);
	memset(&p, 0, sizeof(p));
	p.helo = "me.example";
	p.tls = SMTP_TLS_NONE;
	p.connect_ms = p.cmd_ms = p.data_init_ms = 4000;
	p.data_block_ms = p.data_end_ms = 4000;
	ck_assert_int_eq(smtp_start(&c, sv[0], "peer.example", "peer[sock]",
	    &p), 0);
	res = calloc(200, sizeof(*res));
	ck_assert_ptr_nonnull(res);
	ck_assert_msg(smtp_transaction(&c, &env, todo, msgfd, &info, res) == 0,
	    "%s", c.err.text);
	for (i = 0; i < 200; i++)
		ck_assert_int_eq(res[i].status, 'D');
	smtp_quit(&c);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	free(res);
	envelope_free(&env);
	close(msgfd);
}
END_TEST

/* ---- certificate name checks ---- */

/* A self-signed certificate for the DNS name san (an RSA key with rsa,
 * else P-256), written to path (the client trusts it through
 * tls_ca_file); *key and *crt for the server. */
static void
san_cert(const char *san, int rsa, const char *path, EVP_PKEY **key,
    X509 **crt)
{
	X509_EXTENSION *ext;
	X509_NAME *nm;
	char v[300];
	FILE *f;

	*key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(*key);
	*crt = X509_new();
	X509_set_version(*crt, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(*crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(*crt), -60);
	X509_gmtime_adj(X509_getm_notAfter(*crt), 3600);
	X509_set_pubkey(*crt, *key);
	nm = X509_get_subject_name(*crt);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(*crt, nm);
	snprintf(v, sizeof(v), "DNS:%s", san);
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, v);
	ck_assert_ptr_nonnull(ext);
	X509_add_ext(*crt, ext, -1);
	X509_EXTENSION_free(ext);
	ck_assert_int_gt(X509_sign(*crt, *key, EVP_sha256()), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_X509(f, *crt), 1);
	fclose(f);
}

/* The TLS server of these tests, in a child process on sp. */
struct test_server {
	const char *san;	/* the certificate's DNS name */
	int rsa;		/* an RSA key (else P-256) */
	int max_version;	/* 0: OpenSSL's highest */
	const char *ciphers;	/* NULL: OpenSSL's default */
};

/* Handshake with a forked server ts, the client wanting w (its name,
 * verify, minimum version; the certificate is trusted through
 * tls_ca_file): 1 with the SSL object freed and *res set, 0 refused
 * (err says why). */
static int
handshake_with(const struct test_server *ts, struct tls_want *w,
    struct tls_result *res, struct buf *err)
{
	char ca[] = "/tmp/test_remote_smtp_ca.XXXXXX";
	EVP_PKEY *key;
	X509 *crt;
	SSL_CTX *ctx, *sctx;
	SSL *ssl;
	pid_t pid;
	int sp[2], fd, st;

	fd = mkstemp(ca);
	ck_assert_int_ge(fd, 0);
	close(fd);
	san_cert(ts->san, ts->rsa, ca, &key, &crt);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(sp[0]);
		sctx = SSL_CTX_new(TLS_server_method());
		if (sctx == NULL || SSL_CTX_use_certificate(sctx, crt) != 1 ||
		    SSL_CTX_use_PrivateKey(sctx, key) != 1)
			_exit(2);
		if (ts->max_version != 0 && (SSL_CTX_set_min_proto_version(
		    sctx, TLS1_VERSION) != 1 ||
		    SSL_CTX_set_max_proto_version(sctx,
		    ts->max_version) != 1))
			_exit(2);
		if (ts->ciphers != NULL &&
		    SSL_CTX_set_cipher_list(sctx, ts->ciphers) != 1)
			_exit(2);
		ssl = SSL_new(sctx);
		SSL_set_fd(ssl, sp[1]);
		(void)SSL_accept(ssl);
		_exit(0);
	}
	close(sp[1]);
	ctx = tls_client_ctx(ca, err);
	ck_assert_ptr_nonnull(ctx);
	buf_reset(err);
	w->timeout_ms = 5000;
	ssl = tls_client_handshake(ctx, sp[0], w, res, err);
	if (ssl != NULL)
		SSL_free(ssl);
	close(sp[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	SSL_CTX_free(ctx);
	X509_free(crt);
	EVP_PKEY_free(key);
	unlink(ca);
	return ssl != NULL;
}

/* Verifying the name host against a certificate for san: 1 trusted, 0
 * refused (err says why). */
static int
verify_name(const char *san, const char *host, struct buf *err)
{
	struct test_server ts = { san, 0, 0, NULL };
	struct tls_want w;
	struct tls_result res;

	memset(&w, 0, sizeof(w));
	w.name = host;
	w.verify = 1;
	w.min_version = tls_min_version(1);
	return handshake_with(&ts, &w, &res, err) && res.trusted;
}

START_TEST(cert_name_checks)
{
	struct buf err = BUF_INIT;

	ck_assert_int_eq(verify_name("mx.example.test", "mx.example.test",
	    &err), 1);
	ck_assert_int_eq(verify_name("*.example.test", "mx.example.test",
	    &err), 1);
	/* a wildcard is one whole label: not two, not part of one */
	ck_assert_int_eq(verify_name("*.example.test", "a.mx.example.test",
	    &err), 0);
	ck_assert_int_eq(verify_name("m*.example.test", "mx.example.test",
	    &err), 0);
	ck_assert_int_eq(verify_name("*x.example.test", "mx.example.test",
	    &err), 0);
	/* the administrator learns why, not just "verify failed" */
	ck_assert_int_eq(verify_name("other.example.test", "mx.example.test",
	    &err), 0);
	ck_assert_msg(strstr(buf_str(&err), "hostname mismatch") != NULL,
	    "%s", buf_str(&err));
	buf_free(&err);
}
END_TEST

/* ---- protocol versions (RFC 8996, RFC 8461 7.2, RFC 7435) ---- */

START_TEST(min_version_policy)
{
	ck_assert_int_eq(tls_min_version(1), TLS1_2_VERSION);
	ck_assert_int_eq(tls_min_version(0), TLS1_VERSION);
	ck_assert(!smtp_tls_mandatory(SMTP_TLS_MAY));
	ck_assert(!smtp_tls_mandatory(SMTP_TLS_NONE));
	ck_assert(smtp_tls_mandatory(SMTP_TLS_ENCRYPT));
	ck_assert(smtp_tls_mandatory(SMTP_TLS_VERIFY));
	ck_assert(smtp_tls_mandatory(SMTP_TLS_DANE));
}
END_TEST

/* A server that has nothing newer than TLS 1.1 (with RSA key exchange,
 * which OpenSSL's default security level still allows there). */
static const struct test_server old_server = {
	"mx.example.test", 1, TLS1_1_VERSION, "AES128-SHA:@SECLEVEL=0"
};

START_TEST(old_tls_refused_where_mandatory)
{
	struct buf err = BUF_INIT;
	struct tls_want w;
	struct tls_result res;

	memset(&w, 0, sizeof(w));
	w.name = "mx.example.test";
	w.verify = 1;
	w.min_version = tls_min_version(1);
	ck_assert_int_eq(handshake_with(&old_server, &w, &res, &err), 0);
	ck_assert_int_eq(res.version_refused, 1);
	ck_assert_int_eq(res.trusted, 0);
	ck_assert_str_eq(buf_str(&err), "the server offers no TLS version "
	    "from 1.2 on (tlsv1 alert protocol version)");
	buf_free(&err);
}
END_TEST

START_TEST(old_tls_taken_opportunistically)
{
	struct buf err = BUF_INIT;
	struct tls_want w;
	struct tls_result res;

	memset(&w, 0, sizeof(w));
	w.name = "mx.example.test";
	w.min_version = tls_min_version(0);
	ck_assert_msg(handshake_with(&old_server, &w, &res, &err) == 1, "%s",
	    buf_str(&err));
	ck_assert_int_eq(res.version, TLS1_1_VERSION);
	ck_assert_int_eq(res.version_refused, 0);
	ck_assert_str_eq(res.desc, "TLSv1.1/AES128-SHA");
	buf_free(&err);
}
END_TEST

/* ---- reuse of a kept connection under the next job's policy ---- */

/* A connection as the handshake under policy made left it. */
static void
made(struct smtp_conn *c, enum smtp_tls policy, int tls, int version,
    int trusted, const char *name, const char *alt)
{
	memset(c, 0, sizeof(*c));
	c->p.tls = policy;
	c->tls = tls;
	c->tls_res.version = version;
	c->tls_res.trusted = trusted;
	snprintf(c->tls_name, sizeof(c->tls_name), "%s", name);
	snprintf(c->tls_alt_name, sizeof(c->tls_alt_name), "%s", alt);
}

static void
tlsa_rec(struct tlsa *t, unsigned char usage, unsigned char fill)
{
	memset(t, 0, sizeof(*t));
	t->usage = usage;
	t->selector = 1;
	t->mtype = 1;
	memset(t->data, fill, 32);
	t->len = 32;
}

static bool
ok(const struct smtp_conn *c, enum smtp_tls need, const char *name,
    const char *alt, const struct tlsalist *tl, const char *why_want)
{
	const char *why = "unset";
	bool r = smtp_conn_satisfies(c, need, name, alt, tl, &why);

	if (r)
		ck_assert_ptr_null(why);
	else
		ck_assert_str_eq(why, why_want);
	return r;
}

START_TEST(reuse_policy)
{
	static struct smtp_conn c;
	static struct tlsalist tl;
	const char *opp = "the connection's TLS was opportunistic";
	const char *nover = "the connection's certificate was not verified "
	    "for the host";
	const char *nodane = "the connection was not authenticated by the "
	    "host's current TLSA records";

	/* opportunistic and no TLS: anything will do */
	made(&c, SMTP_TLS_MAY, 0, 0, 0, "mx.a.test", "");
	ck_assert(ok(&c, SMTP_TLS_MAY, "mx.a.test", NULL, NULL, ""));
	ck_assert(ok(&c, SMTP_TLS_NONE, "mx.a.test", NULL, NULL, ""));
	/* mandatory TLS: never a connection without it, or with TLS that
	 * was only opportunistic (any version, certificate not enforced) */
	ck_assert(!ok(&c, SMTP_TLS_ENCRYPT, "mx.a.test", NULL, NULL,
	    "the connection is not encrypted"));
	made(&c, SMTP_TLS_MAY, 1, TLS1_3_VERSION, 1, "mx.a.test", "");
	ck_assert(!ok(&c, SMTP_TLS_ENCRYPT, "mx.a.test", NULL, NULL, opp));
	ck_assert(!ok(&c, SMTP_TLS_VERIFY, "mx.a.test", NULL, NULL, opp));
	ck_assert(!ok(&c, SMTP_TLS_DANE, "mx.a.test", NULL, &tl, opp));
	made(&c, SMTP_TLS_ENCRYPT, 1, TLS1_2_VERSION, 0, "mx.a.test", "");
	ck_assert(ok(&c, SMTP_TLS_ENCRYPT, "mx.a.test", NULL, NULL, ""));
	ck_assert(!ok(&c, SMTP_TLS_VERIFY, "mx.a.test", NULL, NULL, nover));
	c.tls_res.version = TLS1_1_VERSION;
	ck_assert(!ok(&c, SMTP_TLS_ENCRYPT, "mx.a.test", NULL, NULL,
	    "the connection's TLS is older than 1.2"));
	/* verify: a certificate verified under tls=verify for that name */
	made(&c, SMTP_TLS_VERIFY, 1, TLS1_3_VERSION, 1, "mx.a.test", "");
	ck_assert(ok(&c, SMTP_TLS_VERIFY, "MX.A.test", NULL, NULL, ""));
	ck_assert(ok(&c, SMTP_TLS_ENCRYPT, "mx.b.test", NULL, NULL, ""));
	ck_assert(!ok(&c, SMTP_TLS_VERIFY, "mx.b.test", NULL, NULL, nover));
	ck_assert(!ok(&c, SMTP_TLS_DANE, "mx.a.test", NULL, &tl, nodane));
	c.tls_res.trusted = 0;
	ck_assert(!ok(&c, SMTP_TLS_VERIFY, "mx.a.test", NULL, NULL, nover));
	/* dane: authenticated by a record still published, same names */
	tlsa_rec(&tl.v[0], 3, 0xaa);
	tlsa_rec(&tl.v[1], 2, 0xbb);
	tl.n = 2;
	made(&c, SMTP_TLS_DANE, 1, TLS1_3_VERSION, 1, "h1.provider.test",
	    "mx.a.test");
	c.tls_res.dane = 1;
	tlsa_rec(&c.tls_res.match, 2, 0xbb);
	ck_assert(ok(&c, SMTP_TLS_DANE, "h1.provider.test", "mx.a.test", &tl,
	    ""));
	ck_assert(ok(&c, SMTP_TLS_ENCRYPT, "mx.a.test", NULL, NULL, ""));
	ck_assert(!ok(&c, SMTP_TLS_VERIFY, "h1.provider.test", NULL, NULL,
	    nover));
	ck_assert(!ok(&c, SMTP_TLS_DANE, "mx.a.test", "h1.provider.test",
	    &tl, nodane));
	ck_assert(!ok(&c, SMTP_TLS_DANE, "h1.provider.test", NULL, &tl,
	    nodane));
	ck_assert(!ok(&c, SMTP_TLS_DANE, "h1.provider.test", "mx.a.test",
	    NULL, nodane));
	tl.n = 1;	/* the record that matched is gone */
	ck_assert(!ok(&c, SMTP_TLS_DANE, "h1.provider.test", "mx.a.test",
	    &tl, nodane));
	tl.n = 2;
	tl.v[1].data[31] ^= 1;	/* ... or changed */
	ck_assert(!ok(&c, SMTP_TLS_DANE, "h1.provider.test", "mx.a.test",
	    &tl, nodane));
	tl.v[1].data[31] ^= 1;
	c.tls_res.dane = 0;	/* TLS only: no usable record then */
	ck_assert(!ok(&c, SMTP_TLS_DANE, "h1.provider.test", "mx.a.test",
	    &tl, nodane));
	ck_assert_str_eq(smtp_tls_name(SMTP_TLS_DANE), "dane");
	ck_assert_str_eq(smtp_tls_name(SMTP_TLS_MAY), "may");
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("remote_smtp");
	TCase *t = tcase_create("helpers");

	tcase_add_test(t, ehlo_keywords);
	tcase_add_test(t, tcp_nodelay);
	tcase_add_test(t, ehlo_not_keywords);
	tcase_add_test(t, dsn_class);
	tcase_add_test(t, eightbit);
	tcase_add_test(t, dsn_passed_on);
	tcase_add_test(t, trust_store_lazy);
	tcase_add_test(t, cert_name_checks);
	tcase_add_test(t, min_version_policy);
	tcase_add_test(t, old_tls_refused_where_mandatory);
	tcase_add_test(t, old_tls_taken_opportunistically);
	tcase_add_test(t, reuse_policy);
	suite_add_tcase(s, t);
	t = tcase_create("timing");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, write_deadline_own);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

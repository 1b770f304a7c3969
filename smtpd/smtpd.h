/*
 * smtpd.h — the internals of posthorn-smtpd shared by its source files,
 * its unit tests and its fuzz target.
 *
 * A session is one SMTP conversation on a struct stream (fd 0/1, a
 * socketpair in tests, memory files in the fuzzer).  Messages leave the
 * session only through a struct smtpd_sink (the queue client in
 * production, an in-memory fake in tests), and passwords only through
 * the sink's checkpass hook (posthorn-checkpassword in production).
 * Everything the peer sends is hostile; nothing here trusts it.
 */
#ifndef POSTHORN_SMTPD_H
#define POSTHORN_SMTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <openssl/ssl.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/envelope.h"
#include "common/io.h"
#include "common/localuser.h"
#include "common/qclient.h"
#include "common/qid.h"

#define SMTP_LINE_MAX	1000	/* command line incl. CRLF (RFC 5321) */
#define SMTP_HELO_MAX	255

/* Session mode flags. */
#define SMTPD_SUBMISSION	0x01	/* AUTH required before MAIL */
#define SMTPD_SMTPS		0x02	/* implicit TLS */
#define SMTPD_LOCAL		0x04	/* sendmail -bs: a local user on
					   stdin/stdout, no network peer */

/* Where accepted messages and credentials go. */
struct smtpd_sink {
	/* Start one message; returns a handle or NULL (err says why). */
	void *(*open)(void *arg, struct buf *err);
	/* Send the envelope without waiting for an answer (the session
	 * says 354 meanwhile); -1 when it could not be sent. */
	int (*envelope)(void *h, const struct envelope *e);
	/* Before the first write: wait for the queue id the queue gives
	 * the message, for the Received header ("" if it did not say: it
	 * will refuse the message after the data, or a test sink).  -1: the
	 * queue went away; only abort is called after that. */
	int (*qid)(void *h, char qid[QID_LEN + 1]);
	int (*write)(void *h, const void *p, size_t n);
	/* Always fills res and frees h; 0 when res->code is 2xx. */
	int (*finish)(void *h, struct qresult *res);
	void (*abort)(void *h);
	/* ETRN: 0 when a queue run was started. */
	int (*flush)(void *arg, const char *domain, struct buf *err);
	/* 1 good credentials, 0 bad, -1 temporary failure. */
	int (*checkpass)(void *arg, const char *user, const char *pass);
	void *arg;
};

/* The production sink: posthorn-queue at cfg->queue_socket and the
 * cfg->checkpassword program. */
void smtpd_queue_sink(struct smtpd_sink *k, const struct config *cfg);

/* ---- parse.c: command syntax ------------------------------------------ */

/* MAIL FROM parameters (RFC 1870, 6152, 6531, 3461, 4954). */
struct mail_params {
	uint64_t size;		/* 0 = not given */
	bool size_given;
	enum body_type body;
	bool smtputf8;
	enum dsn_ret ret;
	char *envid;		/* xtext-decoded, malloc'd, or NULL */
	bool auth_given;	/* AUTH=<...> (RFC 4954 §5), value ignored */
};

/* RCPT TO parameters (RFC 3461). */
struct rcpt_params {
	unsigned notify;
	char *orcpt;		/* "type;xtext-decoded address", malloc'd */
};

/* Parse results: 0 ok, else the reply to send is in *pe. */
struct parse_error {
	int code;		/* 501, 555, 552, 553 */
	const char *dsn;	/* "5.5.4" */
	const char *why;	/* static text */
};

/* Split "VERB args" at the first space; verb is matched case-
 * insensitively by the caller.  args points past the separating spaces
 * (or to "" when none). */
void smtp_split_verb(const char *line, size_t len, size_t *verblen,
    const char **args);
/* "FROM:<path> params" (prefix is "FROM:" or "TO:", checked
 * case-insensitively, spaces after the colon tolerated).  On success the
 * path is parsed into *a and *rest points at the parameters. */
int smtp_parse_path_arg(const char *args, const char *prefix, unsigned flags,
    struct addr *a, const char **rest, struct parse_error *pe);
int smtp_parse_mail_params(const char *rest, bool esmtp, uint64_t max_size,
    struct mail_params *mp, struct parse_error *pe);
int smtp_parse_rcpt_params(const char *rest, bool esmtp,
    struct rcpt_params *rp, struct parse_error *pe);
void mail_params_free(struct mail_params *mp);
void rcpt_params_free(struct rcpt_params *rp);
/* "BDAT <size> [LAST]": 0 ok; -2 the size was read (*size) but what
 * follows it is wrong; -1 no size could be read. */
int smtp_parse_bdat(const char *args, uint64_t *size, bool *last);
/* An EHLO/HELO argument we accept: printable ASCII, no spaces. */
bool smtp_helo_valid(const char *s);

/* ---- data.c: DATA/BDAT content ---------------------------------------- */

#define DATA_BARE	0x01	/* a bare CR or LF was seen */
#define DATA_NUL	0x02	/* a NUL octet was seen */
#define DATA_TOOBIG	0x04	/* more than the size limit */
#define DATA_LOOP	0x08	/* 100 Received headers or more */
#define DATA_SINKERR	0x10	/* the sink refused bytes */
#define DATA_LONGLINE	0x20	/* a line longer than DATA_LINE_MAX */

/* The longest message line, its CRLF included, in DATA or BDAT: 554 5.6.0
 * beyond it (RFC 5321 asks for 1000; real mail has longer lines). */
#define DATA_LINE_MAX	65536

/* SPEC: a message with more than 100 Received headers is a loop.  With
 * the one this server adds, that is 100 or more in what the client sends:
 * refused now rather than accepted and bounced by the delivery agent. */
#define DATA_MAX_RECEIVED	100

struct data_scan {
	int st;			/* byte-level state */
	bool dots;		/* DATA: dot-stuffing and end detection */
	bool normalize;		/* bare CR/LF count as line ends */
	bool prev_crlf;		/* the previous line ended with CRLF */
	bool done;		/* CRLF.CRLF seen */
	unsigned flags;		/* DATA_* */
	/* header scan (output side, LF lines) */
	bool in_headers;
	size_t hpos;		/* octets of the current line seen */
	char hpre[9];		/* its first octets */
	unsigned received;
	size_t linelen;		/* octets of the current output line */
	uint64_t size;		/* octets produced */
	uint64_t max_size;
	/* output */
	char out[16384];
	size_t outlen;
	int (*emit)(void *arg, const void *p, size_t n);
	void *arg;
};

void data_scan_init(struct data_scan *d, bool dots, bool normalize,
    uint64_t max_size, int (*emit)(void *, const void *, size_t),
    void *arg);
/* Feed n octets; returns the number consumed (less than n only when the
 * end of DATA was reached: the rest is pipelined input). */
size_t data_scan_feed(struct data_scan *d, const char *p, size_t n);
/* Flush buffered output (end of DATA). */
void data_scan_flush(struct data_scan *d);
/* End of the last BDAT chunk: close an unterminated line, flush. */
void data_scan_end(struct data_scan *d);

/* ---- session.c --------------------------------------------------------- */

struct session {
	const struct config *cfg;
	const struct local_tables *tables;
	const struct smtpd_sink *sink;
	unsigned mode;			/* SMTPD_* */
	struct stream io;
	bool tls_available;		/* cert and key configured */
	SSL_CTX *tls_ctx;		/* loaded at start or at STARTTLS */
	struct sockaddr_storage peer;
	bool peer_known;
	long local_uid;			/* SMTPD_LOCAL: the caller's uid */
	char peer_ip[64];		/* "192.0.2.1" or "unknown" */
	char peer_name[256];		/* reverse DNS, or "" */
	/* fills peer_name; called once the greeting is on its way (the
	 * name is only for the Received header and the log); NULL: none */
	void (*peer_lookup)(struct session *);
	char helo[SMTP_HELO_MAX + 1];
	bool helo_done, esmtp;
	bool tls;
	char tls_info[128];		/* "TLSv1.3:TLS_AES_..." */
	char *auth_user;
	bool auth_seen;			/* an AUTH command came: this process
					   must not serve another session */
	unsigned auth_failures;
	int auth_delay_ms;		/* per failure (0 in tests/fuzz) */
	bool relay_client;		/* peer in relay_networks */
	/* transaction */
	bool in_txn;
	struct envelope env;
	unsigned rcpt_tried;
	void *msg;			/* sink handle during DATA/BDAT */
	bool msg_id;			/* the queue was asked for its id */
	bool msg_head;			/* our Received header is written */
	bool msg_lost;			/* the queue went away before
					   naming an id: refuse at the end */
	bool bdat;			/* a BDAT transfer is in progress */
	struct data_scan *scan;		/* BDAT scanner (heap) */
	char id[QID_LEN + 1];		/* Received "id" of this message */
	/* limits and bookkeeping */
	uint64_t errors;
	time_t start;
	unsigned messages;
	bool done;			/* close after the pending reply */
	struct buf line;
};

/* Set up a session over rfd/wfd.  The caller fills peer/peer_known
 * and may replace auth_delay_ms before session_run(). */
int session_init(struct session *s, const struct config *cfg,
    const struct local_tables *t, const struct smtpd_sink *sink,
    unsigned mode, int rfd, int wfd);
/* Run to the end of the conversation. */
void session_run(struct session *s);
void session_free(struct session *s);

/* Time limits for the transfer loops: has smtp_session_timeout passed;
 * the timeout for the next read; after a failed read, true when it was
 * a timeout (the 421 is sent). */
bool session_expired(struct session *s);
int session_timeout_ms(struct session *s);
bool session_read_timeout(struct session *s);

/* ---- txn.c: MAIL, RCPT, DATA, BDAT ------------------------------------ */

/* Forget the transaction (abandoning a message in flight). */
void txn_reset(struct session *s);
/* check: 0 to go on, else refused (replied).  The verbs reply. */
int txn_check_mail(struct session *s, const char *args);
void txn_mail(struct session *s, const char *args);
int txn_check_rcpt(struct session *s, const char *args);
void txn_rcpt(struct session *s, const char *args);
int txn_check_data(struct session *s, const char *args);
void txn_data(struct session *s, const char *args);
void txn_bdat(struct session *s, const char *args);	/* checks itself */
/* "SMTP", "ESMTP", "ESMTPS", "ESMTPSA" (RFC 3848) for Received. */
const char *session_protocol(const struct session *s);
/* Replies: code, enhanced status, text. */
/* A bare CR/LF ended a command line under bare_newline = reject: 521
 * and the session ends. */
/* server.c: does name resolve (A/AAAA) to the peer's address?  A name
 * that is an address literal itself never counts (forward-confirmed
 * reverse DNS). */
bool smtpd_name_has_peer(const char *name,
    const struct sockaddr_storage *peer);
void session_bare_newline(struct session *s);
void session_reply(struct session *s, int code, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- tls.c ------------------------------------------------------------- */

/* Load cert/key from cfg; NULL (logged) when not configured or broken. */
SSL_CTX *tls_server_ctx(const struct config *cfg);
/* Are a certificate and a key configured and readable? */
bool tls_configured(const struct config *cfg);
/* Load the context once for every session this process and its children
 * will serve (a long-running server loads it before it forks, as root if
 * started so: the key may be root's).  Returns whether TLS is usable. */
bool tls_preload(const struct config *cfg);
/* Is TLS usable for a session: preloaded, or configured and readable? */
bool tls_usable(const struct config *cfg);
/* The session's context (the preloaded one, or loaded on first use);
 * NULL when unavailable. */
SSL_CTX *tls_session_ctx(struct session *s);
/* Handshake on the session's fds and switch its stream to TLS.  0 ok. */
int tls_start(struct session *s);

/* ---- auth.c ------------------------------------------------------------ */

/* Run "AUTH mech [initial]"; replies itself. */
void auth_command(struct session *s, const char *args);
/* Production checkpass: run cfg->checkpassword (checkpassword
 * interface).  1 good, 0 bad, -1 temporary. */
int checkpassword_run(const struct config *cfg, const char *user,
    const char *pass);

/* ---- received.c -------------------------------------------------------- */

/* The Received header (folded, LF line ends) for the current message. */
int received_header(const struct session *s, time_t now, struct buf *out);

/* ---- server.c ---------------------------------------------------------- */

/* Everything main() does after parsing arguments. */
int smtpd_serve(const char *confdir, unsigned mode);
/* Session on fd 0/1 of this process (inetd style). */
int smtpd_serve_fd(const struct config *cfg, unsigned mode, int rfd,
    int wfd);

#endif

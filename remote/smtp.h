/*
 * smtp.h — one SMTP or LMTP client connection of posthorn-remote.
 *
 * smtp_open() connects to one address, reads the greeting, says EHLO
 * (HELO as fallback) or LHLO, and starts TLS when the peer offers it and
 * the policy allows.  smtp_transaction() sends one message to a set of
 * recipients (pipelined when the peer offers PIPELINING) and fills in one
 * result per recipient.  The connection can then carry another message
 * (smtp_rset) or be closed (smtp_quit / smtp_close).
 *
 * Everything the peer sends is hostile: replies go through reply.c with
 * hard line and size limits, every read and write has a deadline (RFC 5321
 * 4.5.3.2), input received before our TLS handshake is discarded, and the
 * peer's text is sanitised before it is stored anywhere.
 */
#ifndef POSTHORN_REMOTE_SMTP_H
#define POSTHORN_REMOTE_SMTP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include "common/envelope.h"
#include "common/io.h"
#include "remote/body.h"
#include "remote/dns.h"
#include "remote/reply.h"
#include "remote/tls.h"

#define EXT_PIPELINING	0x01
#define EXT_SIZE	0x02
#define EXT_8BITMIME	0x04
#define EXT_SMTPUTF8	0x08
#define EXT_DSN		0x10
#define EXT_STARTTLS	0x20
#define EXT_ENHANCED	0x40

#define DIAG_MAX	500

/* TLS policy of one attempt.  Every one but MAY and NONE makes TLS
 * mandatory (smtp_tls_mandatory), and with it TLS 1.2 or later. */
enum smtp_tls { SMTP_TLS_MAY, SMTP_TLS_NONE, SMTP_TLS_ENCRYPT,
	SMTP_TLS_VERIFY, SMTP_TLS_DANE };

struct smtp_params {
	const char *helo;	/* our name for EHLO/LHLO */
	int lmtp;		/* LHLO, one reply per recipient after DATA */
	enum smtp_tls tls;
	SSL_CTX *ctx;		/* NULL: never STARTTLS */
	const struct tlsalist *tlsa;	/* SMTP_TLS_DANE: the records */
	const char *tls_name;	/* SMTP_TLS_DANE: the TLSA base domain,
				   for SNI and the name check (NULL: the
				   host) */
	const char *tls_alt_name;	/* SMTP_TLS_DANE: another name the
				   certificate may have (NULL: none) */
	int connect_ms;		/* connect timeout */
	int cmd_ms;		/* greeting, EHLO, MAIL, RCPT, RSET (5 min) */
	int data_init_ms;	/* reply to DATA (2 min) */
	int data_block_ms;	/* each write of the body (3 min) */
	int data_end_ms;	/* reply to the final dot (10 min) */
};

/* Why a connection failed; dsn is a 4.x.x code. */
struct smtp_err {
	char dsn[16];
	char text[DIAG_MAX + 1];
	int tls_failed;		/* the TLS handshake failed: may retry the
				   host without TLS */
};

struct smtp_conn {
	int fd;
	int active;		/* stream initialised */
	int broken;		/* unusable: close without QUIT */
	struct stream s;
	struct buf line;
	struct smtp_params p;
	unsigned ext;		/* EXT_* offered by the peer */
	uint64_t size_max;	/* SIZE the peer announced, 0: none */
	int tls;		/* TLS is on */
	struct tls_result tls_res;	/* what the handshake achieved */
	char tls_name[NS_MAXDNAME];	/* the names the certificate was
				   checked against (p.tls_name or the host) */
	char tls_alt_name[NS_MAXDNAME];	/* ... and p.tls_alt_name, "" none */
	char host[256];		/* the name we meant to reach */
	char relay[320];	/* "host[ip]:port" */
	unsigned port;		/* the peer's port, 0 for a unix socket */
	struct smtp_err err;	/* why the last step failed */
};

/* One recipient's outcome on this connection. */
struct rres {
	char status;		/* 0 not tried, 'D', 'P', 'T' (temporary;
				   another host may still take it) */
	char dsn[16];
	char text[DIAG_MAX + 1];
	char relay[320];
	char tls[96];
	bool again;		/* 'T' from "452 too many recipients" after
				   another recipient was accepted: send it
				   again in a new transaction at once */
};

/* Connect and greet.  0 ready; -1 failed, c->err says why (c is closed,
 * nothing to free). */
int smtp_open(struct smtp_conn *c, const char *host,
    const struct sockaddr *sa, const struct smtp_params *p);
/* The same on an already connected descriptor (owned by c from now on,
 * closed on failure); relay names the peer in messages. */
int smtp_start(struct smtp_conn *c, int fd, const char *host,
    const char *relay, const struct smtp_params *p);
/* Send one message to env's recipients i with todo[i]: the first
 * info->msg_size octets of msgfd (info from body_scan()).  Sets res[i] for
 * each of them.  Returns 0 when the connection is still usable for
 * another message, -1 when it is not (results are set either way). */
int smtp_transaction(struct smtp_conn *c, const struct envelope *env,
    const bool *todo, int msgfd, const struct body_info *info,
    struct rres *res);
/* Prepare a reused connection for the next message.  0 ok. */
int smtp_rset(struct smtp_conn *c);
/* QUIT (best effort) and close. */
void smtp_quit(struct smtp_conn *c);
/* Close without QUIT. */
void smtp_close(struct smtp_conn *c);

/* May a connection made earlier carry mail under the TLS policy tls
 * (for the host's current names and TLSA records, as in smtp_params)?
 * Only if it was made under a policy at least as strict: opportunistic
 * TLS is never taken for mandatory TLS, a certificate verified under
 * tls=verify is taken for tls=verify with the same name, and a DANE
 * connection for DANE with the same names while the TLSA record that
 * authenticated it is still among tlsa.  false with *why otherwise. */
bool smtp_conn_satisfies(const struct smtp_conn *c, enum smtp_tls tls,
    const char *name, const char *alt_name, const struct tlsalist *tlsa,
    const char **why);

/* Helpers shared with deliver.c and tests. */
bool smtp_tls_mandatory(enum smtp_tls t);
/* "may", "none", "encrypt", "verify", "dane" (the routes option). */
const char *smtp_tls_name(enum smtp_tls t);
/* Copy dsn into out with its class digit replaced by cls ('4'/'5'). */
void dsn_with_class(const char *dsn, char cls, char out[16]);
/* Parse one EHLO keyword line ("SIZE 1000", "PIPELINING") into ext and
 * size_max. */
void smtp_parse_ehlo_line(const char *s, size_t len, unsigned *ext,
    uint64_t *size_max);

#endif

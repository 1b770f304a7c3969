/*
 * config.h — posthorn.conf: "key = value" lines, '#' comments, lists
 * separated by commas and/or spaces, durations and sizes with suffixes.
 * An unknown key, a duplicate key or a malformed value is an error naming
 * the file, the line and the key, and the program refuses to start.  A
 * missing posthorn.conf means "all defaults".  Every key is documented in
 * man/posthorn.conf.5; the table in config.c is the single list of keys.
 */
#ifndef POSTHORN_CONFIG_H
#define POSTHORN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/cidr.h"

#define CONFIG_DEFAULT_DIR "/etc/posthorn"
#define CONFIG_STATE_DIR "/var/lib/posthorn"	/* the system's instance */

struct strlist {
	char **v;
	size_t n;
};

enum bare_newline_policy {
	BARE_NEWLINE_REJECT,	/* 550 5.5.2 (default) */
	BARE_NEWLINE_NORMALIZE	/* treat bare LF / CR as CRLF */
};

struct config {
	char *dir;			/* the configuration directory, made
					   absolute (cwd + DIR) */
	char *hostname;			/* default: the system FQDN */
	struct strlist local_domains;	/* default: hostname, localhost */
	struct strlist relay_domains;	/* default: none */
	struct cidrlist relay_networks;	/* default: 127.0.0.0/8, ::1/128 */
	char *spool;			/* /var/spool/posthorn */
	uint64_t max_message_size;	/* 35M */
	uint64_t max_recipients;	/* 1000 */
	uint64_t smtp_timeout;		/* seconds, 5m */
	char *tls_cert, *tls_key;	/* NULL: no STARTTLS */
	char *aliases, *mailboxes, *passwd, *relocated, *routes;
					/* default DIR/<name> */
	struct strlist dns_servers;	/* ip[:port]; empty: resolv.conf */
	uint64_t remote_port;		/* 25 */
	uint64_t retry_min, retry_max;	/* seconds: 5m, 4h */
	uint64_t queue_lifetime;	/* 5d */
	uint64_t delay_warning;		/* 4h, 0 = never */
	uint64_t local_concurrency;	/* 10 */
	uint64_t remote_concurrency;	/* 20 */
	struct strlist listen;		/* 127.0.0.1:2525 */
	struct strlist submission_listen;	/* none */
	struct strlist smtps_listen;	/* none */

	/* Keys beyond SPEC.md's table (documented in posthorn.conf(5)). */
	char *queue_socket;		/* /run/posthorn/queue.sock */
	enum bare_newline_policy bare_newline;	/* reject */
	char *checkpassword;		/* LIBEXEC/posthorn-checkpassword */
	uint64_t smtp_max_errors;	/* 10: then 421 and close */
	uint64_t smtp_session_timeout;	/* 1h: whole-session limit */
	uint64_t smtpd_max_use;		/* 100: port-25 sessions per process */
	uint64_t bounce_max_original;	/* 100k: larger originals: headers */
	bool local_case_insensitive;	/* yes: local parts compared
					   case-insensitively */
	char recipient_delimiter;	/* '+', or 0 for none */
	uint64_t local_program_timeout;	/* 1h: |program deliveries */
	uint64_t lock_timeout;		/* 60s: mbox locks */
	char *alias_user;		/* "nobody": runs file/program
					   deliveries from the aliases file */
	char *mail_spool_dir;		/* /var/mail: system users' mboxes */
	bool reverse_dns;		/* yes: smtpd looks up the client's
					   name for Received (never trusted) */
	uint64_t remote_connect_timeout;	/* 30s */
	char *tls_ca_file;		/* NULL: OpenSSL's default paths */
	bool mta_sts;			/* yes: RFC 8461 policies apply */
	char *mta_sts_cache;		/* policy cache directory; NULL:
					   memory only */
};

/* Directory from "-C DIR" (arg, may be NULL), else $POSTHORN_CONF, else
 * CONFIG_DEFAULT_DIR.  Never NULL. */
const char *config_dir(const char *arg);
/* Load DIR/posthorn.conf over the defaults.  0 ok; -1 with a message
 * ("FILE:LINE: key: reason") in err. */
int config_load(const char *dir, struct config *cfg, struct buf *err);
/* The same from memory (tests, fuzzing): text[0..len) as the contents of
 * a posthorn.conf called name in directory dir. */
int config_parse(const char *dir, const char *name, const char *text,
    size_t len, struct config *cfg, struct buf *err);
void config_free(struct config *cfg);
/* The i-th key of the table (NULL past the end): tests check that every
 * key is documented. */
const char *config_key_name(size_t i);
/* Helpers for consumers. */
bool strlist_contains_domain(const struct strlist *l, const char *domain);
bool config_is_local_domain(const struct config *cfg, const char *domain);
bool config_is_relay_domain(const struct config *cfg, const char *domain);
void strlist_free(struct strlist *l);
int strlist_add(struct strlist *l, const char *s);
/* Full path of a sibling program (the directory of /proc/self/exe, or
 * $POSTHORN_LIBEXEC when set — tests use it for fake agents). */
int libexec_path(const char *prog, char *out, size_t outsz);

#endif

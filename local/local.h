/*
 * local.h — posthorn-local's internal interface: one delivery of one
 * message to one local recipient, and the pieces it is made of (Maildir,
 * mbox, program, alias/.forward expansion, forwarding by re-injection).
 *
 * Trust: the envelope and the message come from the scheduler but their
 * contents come from the network; they are data only.  The aliases file,
 * the mailboxes table and posthorn.conf are the administrator's; a
 * ~/.forward is its owner's and only runs with that owner's uid.
 */
#ifndef POSTHORN_LOCAL_H
#define POSTHORN_LOCAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/envelope.h"
#include "common/localuser.h"

/* errno stand-in for "not a regular file" (Linux has no EFTYPE). */
#define EFTYPE_LOCAL	EMEDIUMTYPE

/* Outcome of a delivery (or a part of one). */
struct lresult {
	char status;		/* 'D', 'T', 'P' */
	char dsn[8];		/* "2.0.0" */
	char text[400];		/* diagnostic, printable */
};

/* Everything one delivery needs. */
struct lctx {
	const struct config *cfg;
	const struct local_tables *tabs;
	const char *qid;	/* "" if unknown */
	const char *sender;	/* envelope sender, "" = <> */
	const char *rcpt;	/* the recipient as the queue has it */
	unsigned notify;	/* its DSN NOTIFY bits (0: not given) */
	const char *orcpt;	/* its ORCPT ("rfc822;a@b"), or NULL */
	bool own_mailbox;	/* the queue's "own mailbox" mark (an alias's
				   "\user"): no alias, no .forward */
	enum dsn_ret ret;	/* the message's RET, and ENVID or NULL: */
	const char *envid;	/*   forwarded copies keep them */
	enum body_type body;	/* BODY= and SMTPUTF8: so do they */
	bool smtputf8;
	int msgfd;		/* the message, LF line ends, seekable */
	uint64_t msgsize;	/* ... its first msgsize octets (env.size);
				   anything after them is never read */
	char local[ADDR_LOCAL_MAX + 1];	/* local part (unquoted) */
	char ext[ADDR_LOCAL_MAX + 1];	/* extension, "" if none */
	char domain[ADDR_DOMAIN_MAX + 1];
	bool spawned;		/* started by posthorn-spawn, which chose our
				   uid for rcpt ($POSTHORN_SPAWN_RCPT) */
	/* whom file/program deliveries run as (our own uid) */
	char user[256];
	char home[4096];
};

/* result.c */
void res_set(struct lresult *r, char status, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Classify an errno from writing a mailbox: disk full / quota / I/O →
 * temporary, permission → permanent. */
void res_errno(struct lresult *r, int err, const char *what,
    const char *path);
/* Fold part into total: T beats P beats D (a temporary failure retries
 * the whole delivery; at-least-once). */
void res_merge(struct lresult *total, const struct lresult *part);
/* Resolve a mailbox path for our uid through directories only root and
 * we can change (common/safepath.h; flags SAFEPATH_*) into out: 0, or -1
 * with the outcome in r (an unsafe path defers with 4.2.0).  what is
 * "mailbox" or "maildir", for the diagnostic. */
int res_safe_path(struct lresult *r, const char *what, const char *path,
    int flags, char *out, size_t outsz);

/* message.c: the bytes every mailbox gets. */
/* "Return-Path: <sender>\nDelivered-To: <rcpt>\n" */
int msg_prefix(const struct lctx *c, struct buf *out);
/* Scan the header section: 1 = loop (Delivered-To equal to rcpt, or more
 * than 100 Received), 0 = fine, -1 = read error (errno). */
int msg_loop_check(int msgfd, uint64_t msgsize, const char *rcpt);
/* Write prefix + the message (msgfd's first msgsize octets) to fd.  mbox:
 * ">From " quoting (mboxrd) and a final newline guaranteed.  Returns
 * octets written or -1 (errno; EIO if msgfd ends before msgsize). */
off_t msg_copy(int msgfd, uint64_t msgsize, int outfd,
    const struct buf *prefix, bool mbox);

/* maildir.c: deliver into DIR/ (tmp, new, cur created when missing). */
void maildir_deliver(const struct lctx *c, const char *dir,
    struct lresult *r);
/* mbox.c: append to the mbox file path, fcntl + dotlock locked. */
void mbox_deliver(const struct lctx *c, const char *path, struct lresult *r);
/* program.c: /bin/sh -c cmd with the message on stdin. */
void program_deliver(const struct lctx *c, const char *cmd,
    struct lresult *r);
/* forward.c: re-inject the message for addrs (one new message); own[i]
 * marks addrs[i] for that local user's own mailbox only. */
void forward_deliver(const struct lctx *c, char *const *addrs,
    const bool *own, size_t n, struct lresult *r);
/* expand.c: deliver according to an aliases value (in_forward false;
 * key = the alias name) or a ~/.forward's text turned into a value
 * (in_forward true; key = the owner's user name, c->user/home). */
void expand_deliver(const struct lctx *c, const char *value, const char *key,
    bool in_forward, struct lresult *r);
/* Parse .forward / :include: text into one alias_split-able value: lines
 * joined with commas, '#' comment lines and blank lines dropped.  0 ok,
 * -1 (*why). */
int forward_text_to_value(const char *text, size_t len, struct buf *out,
    const char **why);

/* deliver.c: the whole delivery of c->rcpt. */
void local_deliver(struct lctx *c, struct lresult *r);
/* c->home/.forward as an aliases value when it is a regular file owned
 * by uid and not group/world-writable: 1 = value in out, 0 = none. */
int read_forward(const struct lctx *c, uid_t uid, struct buf *out);
/* Read at most max octets from fd into b: 0, or -1 (errno; EFBIG when
 * the file is larger). */
int local_read_fd(int fd, size_t max, struct buf *b);
/* Deliver to a system user's own mailbox: ~/Maildir/ if it exists, else
 * mail_spool_dir/USER. */
void mailbox_deliver(const struct lctx *c, const char *user,
    const char *home, struct lresult *r);

#endif

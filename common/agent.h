/*
 * agent.h — the protocol between the scheduler (posthorn-send) and a
 * delivery agent (posthorn-local, posthorn-remote, posthorn-bounce), agent
 * side and scheduler side.  Details in queue/PROTOCOL.md.
 *
 * An agent is started with fd 3 a unix stream socket to the scheduler
 * (AGENT_FD), fd 0 /dev/null, fd 1 /dev/null, fd 2 the log.  It reads jobs
 * from fd 3 until EOF.  Each job carries the envelope (only the recipients
 * this agent must handle, each with its index in the queue's list) and the
 * message as a read-only file descriptor passed with SCM_RIGHTS.  For every
 * recipient of the job the agent sends exactly one result, then a done
 * frame; it may then receive another job (connection reuse in
 * posthorn-remote) or EOF.
 *
 * The message is exactly the first env.size octets of that file (the
 * queue may keep its own records after them): agents read it only through
 * agent_msg_read() with job->msgsize, never to the end of the file.
 */
#ifndef POSTHORN_AGENT_H
#define POSTHORN_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/envelope.h"
#include "common/io.h"

#define AGENT_FD 3

enum agent_kind_of_job {
	JOB_DELIVER = 0,	/* deliver to the recipients */
	JOB_BOUNCE_FAILED,	/* posthorn-bounce: failure notice */
	JOB_BOUNCE_DELAYED,	/* posthorn-bounce: delay notice */
	JOB_BOUNCE_SUCCESS	/* posthorn-bounce: success (NOTIFY=SUCCESS) */
};

struct agent_job {
	enum agent_kind_of_job kind;
	struct envelope env;	/* env.qid set; env.rcpts: this job's */
	uint32_t *rcpt_index;	/* queue-side index of each env.rcpts[i] */
	int msgfd;		/* read-only regular file; the message (LF) */
	uint64_t msgsize;	/* the message is msgfd's octets [0, msgsize):
				   env.size; agent_job_read() checked that
				   the file holds at least that many.  What
				   follows is the queue's, never to be read */
	char domain[256];	/* posthorn-remote: the destination domain */
};

/* Agent side.  1 = job read, 0 = EOF (no more work), -1 = protocol error
 * (*why); a descriptor that is not a regular file or is shorter than the
 * envelope's size is one ("message file shorter than its envelope").  The
 * agent owns job->msgfd and closes it (agent_job_free). */
int agent_job_read(struct stream *ctl, struct agent_job *job,
    const char **why);
void agent_job_free(struct agent_job *job);
/* Read up to n octets of the message at offset off with pread(): never
 * at or past msgsize.  Returns the octets read (> 0), 0 when off >=
 * msgsize (the end of the message), -1 with errno on a read error or EIO
 * when the file ends before msgsize (a message is never cut short
 * silently).  EINTR is retried. */
ssize_t agent_msg_read(int fd, uint64_t msgsize, void *p, size_t n,
    uint64_t off);
/* status: 'D' delivered, 'T' temporary failure, 'P' permanent failure.
 * dsn "2.0.0"; text is sanitised and truncated here; relay may be NULL. */
int agent_report(struct stream *ctl, const struct agent_job *job, size_t i,
    char status, const char *dsn, const char *text, const char *relay);
int agent_job_done(struct stream *ctl);
/* posthorn-remote starts the text of a 'D' result with this when the
 * receiving server offered DSN and was given the recipient's NOTIFY: by
 * RFC 3461 4.2 that server now owes any success notice, so posthorn-bounce
 * sends no "relayed" notice of its own for the recipient. */
#define AGENT_TEXT_DSN_PASSED	"DSN passed on: "
/* A 'D' result's text also says how the recipient was done, for the
 * success notice's Action (RFC 3464 2.3.3): posthorn-remote starts it
 * with AGENT_TEXT_FINAL for an LMTP delivery (final: "delivered", not
 * "relayed"), posthorn-local with AGENT_TEXT_EXPANDED for an alias or
 * .forward that sent the message on to more than one place
 * ("expanded").  Text from a peer always starts with its reply code, so
 * a peer cannot forge either mark. */
#define AGENT_TEXT_FINAL	"delivered by LMTP: "
#define AGENT_TEXT_EXPANDED	"expanded: "

/* Scheduler side. */
struct agent_result {
	uint32_t rcpt_index;
	char status;		/* 'D', 'T', 'P' */
	char dsn[16];
	char text[512];
	char relay[300];
};
/* Append a job's frames (the envelope e with its recipients already
 * restricted to the job's, index[] their queue indexes) to out; the
 * message descriptor goes with their first byte.  0, or -1. */
int agent_job_encode(enum agent_kind_of_job kind, const struct envelope *e,
    const uint32_t *index, const char *domain, struct buf *out);
/* Encode and send a job with msgfd attached, waiting for room (up to a
 * minute): for tests and callers without an event loop. */
int agent_job_send(int ctlfd, enum agent_kind_of_job kind,
    const struct envelope *e, const uint32_t *index, const char *domain,
    int msgfd);
/* Parse one result/done frame.  1 result, 2 done, -1 bad (*why). */
int agent_result_decode(char tag, const char *payload, size_t plen,
    struct agent_result *r, const char **why);

/* The spawner (posthorn-spawn, root; queue/PROTOCOL.md section 4).  The
 * scheduler asks it to start a delivery agent with ctlfd (the agent's end
 * of a fresh socketpair, the job already written into it by the
 * scheduler) as the agent's fd 3:
 *   S id \0 rcpt   posthorn-local for one recipient, under its uid
 *   S id \0 rcpt \0 mailbox
 *                  the same for the recipient's own mailbox (the queue's
 *                  "own mailbox" mark, sendmail's "\user" in an alias):
 *                  its uid is looked up without the aliases table
 *   R id           posthorn-remote, under the remote user's uid
 *   K id           (no descriptor) kill that agent: its time is up
 * id is the scheduler's name for the agent (decimal, 1..2^63, unique
 * among the agents it has not yet seen end).  The spawner answers each S
 * and R exactly once, when the agent is over:
 *   X id \0 how \0 code   how: "exit" (code = exit status), "signal"
 *                         (code = signal number) or "refused" (code 0:
 *                         no agent was started; the descriptor is closed)
 */
#define SPAWN_FD_ENV "POSTHORN_SPAWN_FD"
/* The spawner tells posthorn-local, in its clean environment, the one
 * recipient it chose the uid for; posthorn-local delivers to no other
 * (a job is written by the less trusted scheduler). */
#define SPAWN_RCPT_ENV "POSTHORN_SPAWN_RCPT"
/* ... and, set to "1", that it was chosen for the recipient's own mailbox
 * (S with "mailbox"): posthorn-local then takes only jobs that say so. */
#define SPAWN_MAILBOX_ENV "POSTHORN_SPAWN_OWN_MAILBOX"
#define SPAWN_LOCAL	'S'
#define SPAWN_REMOTE	'R'
#define SPAWN_KILL	'K'
#define SPAWN_EXIT	'X'
#define SPAWN_ID_MAX	UINT64_C(0x7fffffffffffffff)
#define SPAWN_FRAME_MAX	(ADDR_MAX + 32)

struct spawn_req {
	char kind;		/* SPAWN_LOCAL, SPAWN_REMOTE, SPAWN_KILL */
	uint64_t id;
	char rcpt[ADDR_MAX + 1];	/* SPAWN_LOCAL only */
	bool own_mailbox;	/* SPAWN_LOCAL: "mailbox" given */
	int fd;			/* the agent's end; -1 for SPAWN_KILL */
};

struct spawn_exit {
	uint64_t id;
	char how[8];		/* "exit", "signal", "refused" */
	unsigned code;
};

/* Scheduler side: send a request (kind S or R with ctlfd, K with -1;
 * rcpt and own_mailbox only for S). */
int spawn_request_send(int spawnfd, char kind, uint64_t id,
    const char *rcpt, bool own_mailbox, int ctlfd);
/* Decode an X frame from the spawner.  0 ok, -1 malformed. */
int spawn_exit_decode(char tag, const char *payload, size_t plen,
    struct spawn_exit *x);

/* Spawner side: 1 = request read (*r filled, r->fd owned by the caller),
 * 0 = EOF (or reset: the scheduler is gone), -1 = bad.  The descriptor
 * must come with S and R, and must not with K. */
int spawn_request_read(struct stream *s, struct spawn_req *r);
/* The payload check under spawn_request_read (fd: whether a descriptor
 * came with the frame).  0 ok, -1 malformed. */
int spawn_request_decode(char tag, const char *payload, size_t plen,
    int have_fd, struct spawn_req *r);
/* Append an X frame. */
int spawn_exit_put(struct buf *out, uint64_t id, const char *how,
    unsigned code);

#endif

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
 */
#ifndef POSTHORN_AGENT_H
#define POSTHORN_AGENT_H

#include <stddef.h>
#include <stdint.h>

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
	int msgfd;		/* read-only, seekable; the message (LF) */
	char domain[256];	/* posthorn-remote: the destination domain */
};

/* Agent side.  1 = job read, 0 = EOF (no more work), -1 = protocol error
 * (*why).  The agent owns job->msgfd and closes it (agent_job_free). */
int agent_job_read(struct stream *ctl, struct agent_job *job,
    const char **why);
void agent_job_free(struct agent_job *job);
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

/* Scheduler side. */
struct agent_result {
	uint32_t rcpt_index;
	char status;		/* 'D', 'T', 'P' */
	char dsn[16];
	char text[512];
	char relay[300];
};
/* Send a job (the envelope e with its recipients already restricted to
 * the job's, index[] their queue indexes) with msgfd attached. */
int agent_job_send(int ctlfd, enum agent_kind_of_job kind,
    const struct envelope *e, const uint32_t *index, const char *domain,
    int msgfd);
/* Parse one result/done frame.  1 result, 2 done, -1 bad (*why). */
int agent_result_decode(char tag, const char *payload, size_t plen,
    struct agent_result *r, const char **why);

/* The local-delivery spawner (posthorn-spawn, root; see
 * queue/PROTOCOL.md).  The scheduler asks it to start posthorn-local for
 * one recipient with ctlfd (the agent's end of a fresh socketpair, the job
 * already written into it by the scheduler) as the agent's fd 3.  The
 * spawner answers nothing: a failed spawn shows up as EOF on the
 * scheduler's end without results (a temporary failure). */
#define SPAWN_FD_ENV "POSTHORN_SPAWN_FD"
/* The spawner tells posthorn-local, in its clean environment, the one
 * recipient it chose the uid for; posthorn-local delivers to no other
 * (a job is written by the less trusted scheduler). */
#define SPAWN_RCPT_ENV "POSTHORN_SPAWN_RCPT"
int spawn_request_send(int spawnfd, const char *rcpt, int ctlfd);
/* Spawner side: 1 = request read (rcpt copied, *ctlfd owned by the
 * caller), 0 = EOF, -1 = bad. */
int spawn_request_read(struct stream *s, char *rcpt, size_t rcptsz,
    int *ctlfd);

#endif

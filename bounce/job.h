/*
 * job.h — one posthorn-bounce job: decide which recipients of the job get
 * a notice (DSN NOTIFY, null and MAILER-DAEMON senders, double bounces),
 * build the notification (dsn.h), inject it through the queue
 * (qclient.h) and report a result for every recipient of the job
 * (agent.h).  Input: a job already decoded and validated by
 * agent_job_read(); the configuration.
 */
#ifndef POSTHORN_BOUNCE_JOB_H
#define POSTHORN_BOUNCE_JOB_H

#include <stdbool.h>

#include "bounce/dsn.h"
#include "common/agent.h"
#include "common/config.h"

/* A double bounce (the failure of a message from the null sender, sent
 * to postmaster) goes out from BOUNCE_DOUBLE_LOCAL@hostname, as
 * Postfix's do from double-bounce@: that sender survives forwarding, by
 * an alias or .forward and by other servers, so that a notice about it
 * failing in turn finds it and is dropped rather than starting another
 * round.  The envelope protocol BOUNCE_PROTO_DOUBLE marks double bounces
 * too (those queued by older versions had the null sender). */
#define BOUNCE_DOUBLE_LOCAL	"double-bounce"
#define BOUNCE_PROTO_DOUBLE	"double-bounce"
#define BOUNCE_PROTO		"bounce"

/* Is sender the double-bounce address of this hostname? */
bool bounce_is_double_sender(const char *sender, const char *hostname);

/* Started as root (posthorn-run as root with a root-owned spool; under
 * systemd the scheduler runs as the queue's user and so do we): become
 * BOUNCE_ROOT_USER for good before the first job, provided that user can
 * still reach the queue socket (posthorn-run's is open to every user).
 * The configuration is read before, and the message arrives as a
 * descriptor.  0: not root, or root dropped; 1: kept the scheduler's
 * identity, *why says why (the caller logs it); -1: failure (*why). */
#define BOUNCE_ROOT_USER	"nobody"
int bounce_drop_root(const char *queue_socket, const char **why);

/* Does a recipient with these NOTIFY bits want a notice of this kind? */
bool bounce_wanted(enum dsn_kind kind, unsigned notify);

/* Handle the job and send every result and the done frame.  0 ok, -1 if
 * the control connection failed (the scheduler treats missing results as
 * temporary failures). */
int bounce_job(const struct config *cfg, struct stream *ctl,
    const struct agent_job *job);

#endif

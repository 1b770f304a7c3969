/*
 * pdeath.h — keep the parent-death signal across a change of user.
 *
 * posthorn-run gives each child PR_SET_PDEATHSIG, so that nothing
 * outlives it even when it is killed with SIGKILL.  The kernel clears
 * that setting whenever the process's effective or filesystem uid or gid
 * changes, so a program that drops privileges itself (posthorn-smtpd to
 * posthorn-smtpd, posthorn-queue to the spool's owner) would silently
 * stop following its parent.  Call pdeath_save() before the change and
 * pdeath_restore() after it.  Trusts nothing; no input.
 */
#ifndef POSTHORN_PDEATH_H
#define POSTHORN_PDEATH_H

#include <sys/types.h>

struct pdeath {
	int sig;	/* the parent-death signal, 0 for none */
	pid_t parent;	/* getppid() when saved */
};

void pdeath_save(struct pdeath *p);
/* Set the signal again.  If the parent died meanwhile (we were reparented
 * while the setting was off), the signal is raised now, as the kernel
 * would have sent it.  -1 if prctl fails (errno). */
int pdeath_restore(const struct pdeath *p);

#endif

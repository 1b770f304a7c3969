/*
 * pdeath.c — keep the parent-death signal across a change of user (see
 * pdeath.h).  Trusts nothing; no input.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/pdeath.h"

void
pdeath_save(struct pdeath *p)
{
	int sig = 0;

	if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) == -1)
		sig = 0;
	p->sig = sig;
	p->parent = getppid();
}

int
pdeath_restore(const struct pdeath *p)
{
	if (p->sig <= 0)
		return 0;
	if (prctl(PR_SET_PDEATHSIG, (unsigned long)p->sig, 0, 0, 0) == -1)
		return -1;
	if (getppid() != p->parent)
		raise(p->sig);
	return 0;
}

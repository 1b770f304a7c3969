/*
 * text.c — the meaning of enhanced status codes and advice for senders
 * (see text.h).  Two small tables: exact "s.d" matches first, then the
 * subject alone.  Only our own static strings are returned.
 */
#include <stddef.h>
#include <string.h>

#include "bounce/text.h"

struct code_text {
	const char *sd;		/* "1.1" (subject.detail) or "1" (subject) */
	const char *text;
};

static const struct code_text meanings[] = {
	{ "0.0", "other or undefined status" },
	{ "1.1", "bad destination mailbox address" },
	{ "1.2", "bad destination system address" },
	{ "1.3", "bad destination mailbox address syntax" },
	{ "1.6", "destination mailbox has moved" },
	{ "1.10", "recipient address has null MX" },
	{ "2.1", "mailbox disabled, not accepting messages" },
	{ "2.2", "mailbox full" },
	{ "2.3", "message length exceeds administrative limit" },
	{ "3.4", "message too big for system" },
	{ "4.1", "no answer from host" },
	{ "4.2", "bad connection" },
	{ "4.3", "directory server failure" },
	{ "4.4", "unable to route" },
	{ "4.6", "routing loop detected" },
	{ "4.7", "delivery time expired" },
	{ "7.1", "delivery not authorized, message refused" },
	{ "1", "address status" },
	{ "2", "mailbox status" },
	{ "3", "mail system status" },
	{ "4", "network and routing status" },
	{ "5", "mail delivery protocol status" },
	{ "6", "message content or media status" },
	{ "7", "security or policy status" },
	{ NULL, NULL }
};

static const struct code_text advice[] = {
	{ "1.6", "The recipient has moved; the reply above may name the "
	    "new address." },
	{ "1.10", "The recipient's domain does not accept mail at all; "
	    "check the domain part of the address." },
	{ "2.2", "The recipient's mailbox is full. Try again later, or "
	    "reach the recipient another way." },
	{ "2.3", "The message is too big for the recipient's mailbox; "
	    "send a smaller one." },
	{ "3.4", "The message is too big for the receiving system; send a "
	    "smaller one, or share large files another way." },
	{ "4.6", "The message was looping between mail systems; please "
	    "tell the postmaster of the recipient's domain." },
	{ "4.7", "The message could not be delivered in the time allowed; "
	    "the receiving system was unreachable or refused it until then." },
	{ "1", "Check the recipient address for typing errors, or ask the "
	    "recipient for the correct one." },
	{ "2", "The recipient's mailbox cannot take the message; try again "
	    "later or reach the recipient another way." },
	{ "3", "The receiving mail system has a problem; try again later." },
	{ "4", "The recipient's mail system could not be reached. Check the "
	    "domain part of the address; if it is right, that system may be "
	    "down." },
	{ "5", "The mail systems could not agree on how to transfer the "
	    "message; please tell your postmaster." },
	{ "6", "The receiving system refused the content of the message." },
	{ "7", "The receiving system refused the message for policy reasons "
	    "(for example as suspected spam). Reach the recipient another "
	    "way, or ask their postmaster." },
	{ NULL, NULL }
};

static const char *
lookup(const struct code_text *t, const char *status)
{
	const char *sd = strchr(status, '.');
	size_t slen;
	size_t i;

	if (sd == NULL)
		return NULL;
	sd++;
	slen = strcspn(sd, ".");
	for (i = 0; t[i].sd != NULL; i++)
		if (strcmp(t[i].sd, sd) == 0)
			return t[i].text;
	for (i = 0; t[i].sd != NULL; i++)
		if (strlen(t[i].sd) == slen && strncmp(t[i].sd, sd, slen) == 0)
			return t[i].text;
	return NULL;
}

const char *
dsn_status_text(const char *status)
{
	const char *t = lookup(meanings, status);

	return t != NULL ? t : "other or undefined status";
}

const char *
dsn_advice(const char *status)
{
	const char *t = lookup(advice, status);

	return t != NULL ? t : "If the problem persists, please contact "
	    "your postmaster.";
}

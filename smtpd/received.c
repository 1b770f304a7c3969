/*
 * received.c — the Received header smtpd puts first in every message
 * (RFC 5321 §4.4, RFC 5322 §3.6.7), e.g.
 *
 *   Received: from client.example (mail.example [192.0.2.1])
 *   	by mx.example (posthorn) with ESMTPS (TLSv1.3:TLS_AES_256_GCM_SHA384)
 *   	id 0005F2A1B2C3D4001234
 *   	for <user@example.org>; Sun, 22 Nov 2026 17:38:22 +0000
 *
 * For sendmail -bs (SMTPD_LOCAL) the parenthesis names the caller's uid:
 * "Received: from helo (uid 1000)".
 * "for" only with exactly one recipient (no disclosure of Bcc lists).
 * Input: the session's HELO name and reverse DNS name, both from the
 * peer and so untrusted: octets outside a conservative set become '_' so
 * a peer cannot close the comment or add a header.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "smtpd/smtpd.h"

/* Append s with every octet outside [A-Za-z0-9.-_:[]] made '_'. */
static int
append_token(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' || c == ':' || c == '[' || c == ']';
		if (buf_append_char(out, ok ? (char)c : '_') != 0)
			return -1;
	}
	return 0;
}

int
received_header(const struct session *s, time_t now, struct buf *out)
{
	char date[64];
	struct tm tm;
	int r = 0;

	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return -1;
	r |= buf_append_str(out, "Received: from ");
	r |= append_token(out, s->helo[0] ? s->helo : "unknown");
	if (s->mode & SMTPD_LOCAL)
		r |= buf_printf(out, " (uid %ld)\n\tby ", s->local_uid);
	else {
		r |= buf_append_str(out, " (");
		r |= append_token(out, s->peer_name[0] ? s->peer_name :
		    "unknown");
		r |= buf_printf(out, " [%s%s])\n\tby ",
		    strchr(s->peer_ip, ':') != NULL ? "IPv6:" : "",
		    s->peer_ip);
	}
	r |= append_token(out, s->cfg->hostname);
	r |= buf_printf(out, " (posthorn) with %s", session_protocol(s));
	if (s->tls)
		r |= buf_printf(out, " (%s)", s->tls_info);
	r |= buf_printf(out, "\n\tid %s", s->id);
	if (s->env.nrcpts == 1)
		r |= buf_printf(out, "\n\tfor <%s>", s->env.rcpts[0].addr);
	r |= buf_printf(out, "; %s\n", date);
	return r == 0 ? 0 : -1;
}

/*
 * test_config.c — unit tests for common/config.c: every default, parsing
 * of each value type, relative file names, computed defaults, and exact
 * "FILE:LINE: key: reason" errors for unknown/duplicate keys, malformed
 * values, NUL octets, overlong lines and inconsistent pairs.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cidr.h"
#include "common/config.h"
#include "common/io.h"

static char dir[] = "/tmp/test_config.XXXXXX";

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/posthorn.conf", dir);
	unlink(path);
	rmdir(dir);
}

static void
write_conf(const char *text, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/posthorn.conf", dir);
	ck_assert_int_eq(io_write_file_atomic(path, text, len, 0644), 0);
}

/* Load text; return "" on success or the error message. */
static const char *
load(const char *text, struct config *cfg)
{
	static char msg[512];
	struct buf err = BUF_INIT;
	const char *p;
	size_t dl = strlen(dir);

	if (text != NULL)
		write_conf(text, strlen(text));
	if (config_load(dir, cfg, &err) == 0) {
		buf_free(&err);
		return "";
	}
	/* strip the temporary directory from the message */
	p = buf_str(&err);
	if (strncmp(p, dir, dl) == 0)
		p += dl;
	snprintf(msg, sizeof(msg), "%s", p);
	buf_free(&err);
	return msg;
}

static bool
relays(const struct config *cfg, const char *ip)
{
	struct sockaddr_storage ss;

	ck_assert_int_eq(ip_parse(ip, &ss), 0);
	return cidrlist_match(&cfg->relay_networks, (struct sockaddr *)&ss);
}

START_TEST(test_defaults)
{
	struct config cfg;
	char path[256];

	setenv("POSTHORN_LIBEXEC", "/opt/ph", 1);
	ck_assert_str_eq(load(NULL, &cfg), "");
	ck_assert_str_eq(cfg.dir, dir);
	ck_assert_ptr_nonnull(cfg.hostname);
	ck_assert_uint_gt(strlen(cfg.hostname), 0);
	ck_assert_uint_eq(cfg.local_domains.n,
	    strcmp(cfg.hostname, "localhost") == 0 ? 1 : 2);
	ck_assert_str_eq(cfg.local_domains.v[0], cfg.hostname);
	ck_assert(config_is_local_domain(&cfg, "LOCALHOST"));
	ck_assert_uint_eq(cfg.relay_domains.n, 0);
	ck_assert_uint_eq(cfg.relay_networks.n, 2);
	ck_assert(relays(&cfg, "127.9.9.9"));
	ck_assert(relays(&cfg, "::1"));
	ck_assert(!relays(&cfg, "192.0.2.1"));
	ck_assert_str_eq(cfg.spool, "/var/spool/posthorn");
	ck_assert_uint_eq(cfg.max_message_size, 35 * 1024 * 1024);
	ck_assert_uint_eq(cfg.max_recipients, 1000);
	ck_assert_uint_eq(cfg.smtp_timeout, 300);
	ck_assert_ptr_null(cfg.tls_cert);
	ck_assert_ptr_null(cfg.tls_key);
	snprintf(path, sizeof(path), "%s/aliases", dir);
	ck_assert_str_eq(cfg.aliases, path);
	snprintf(path, sizeof(path), "%s/mailboxes", dir);
	ck_assert_str_eq(cfg.mailboxes, path);
	snprintf(path, sizeof(path), "%s/passwd", dir);
	ck_assert_str_eq(cfg.passwd, path);
	snprintf(path, sizeof(path), "%s/relocated", dir);
	ck_assert_str_eq(cfg.relocated, path);
	snprintf(path, sizeof(path), "%s/routes", dir);
	ck_assert_str_eq(cfg.routes, path);
	ck_assert_uint_eq(cfg.dns_servers.n, 0);
	ck_assert_uint_eq(cfg.remote_port, 25);
	ck_assert_uint_eq(cfg.retry_min, 300);
	ck_assert_uint_eq(cfg.retry_max, 4 * 3600);
	ck_assert_uint_eq(cfg.queue_lifetime, 5 * 86400);
	ck_assert_uint_eq(cfg.delay_warning, 4 * 3600);
	ck_assert_uint_eq(cfg.local_concurrency, 10);
	ck_assert_uint_eq(cfg.remote_concurrency, 20);
	ck_assert_uint_eq(cfg.listen.n, 1);
	ck_assert_str_eq(cfg.listen.v[0], "127.0.0.1:2525");
	ck_assert_uint_eq(cfg.submission_listen.n, 0);
	ck_assert_uint_eq(cfg.smtps_listen.n, 0);
	ck_assert_str_eq(cfg.queue_socket, "/run/posthorn/queue.sock");
	ck_assert_int_eq(cfg.bare_newline, BARE_NEWLINE_REJECT);
	ck_assert_str_eq(cfg.checkpassword, "/opt/ph/posthorn-checkpassword");
	ck_assert_uint_eq(cfg.smtp_max_errors, 10);
	ck_assert_uint_eq(cfg.smtp_session_timeout, 3600);
	ck_assert_uint_eq(cfg.bounce_max_original, 102400);
	ck_assert(cfg.local_case_insensitive);
	ck_assert_int_eq(cfg.recipient_delimiter, '+');
	ck_assert_uint_eq(cfg.local_program_timeout, 3600);
	ck_assert_uint_eq(cfg.lock_timeout, 60);
	ck_assert_str_eq(cfg.alias_user, "nobody");
	ck_assert_str_eq(cfg.mail_spool_dir, "/var/mail");
	ck_assert(cfg.reverse_dns);
	ck_assert_uint_eq(cfg.remote_connect_timeout, 30);
	ck_assert_ptr_null(cfg.tls_ca_file);
	config_free(&cfg);
	config_free(&cfg);	/* idempotent */
}
END_TEST

START_TEST(test_values)
{
	struct config cfg;
	char path[256];

	ck_assert_str_eq(load(
	    "# comment\n"
	    "\n"
	    "hostname = MX.Example.ORG\r\n"
	    "   local_domains=example.org,  example.net other.example\n"
	    "relay_domains = .relay.example\n"
	    "relay_networks = 192.0.2.0/24 , 2001:db8::/32\n"
	    "\t# indented comment\n"
	    "spool = /srv/spool\n"
	    "max_message_size = 10M\n"
	    "max_recipients = 5\n"
	    "smtp_timeout = 90s\n"
	    "tls_cert = cert.pem\n"
	    "tls_key = /etc/ssl/key.pem\n"
	    "aliases =\n"
	    "dns_servers = 127.0.0.1:5353, ::1\n"
	    "remote_port = 2526\n"
	    "retry_min = 1m\n"
	    "retry_max = 1m\n"
	    "delay_warning = 0\n"
	    "listen = 127.0.0.1:25 [::1]:25\n"
	    "smtps_listen = 127.0.0.1:465\n"
	    "bare_newline = normalize\n"
	    "local_case_insensitive = no\n"
	    "recipient_delimiter =\n"
	    "alias_user = mail-alias\n"
	    "reverse_dns = off\n", &cfg), "");
	ck_assert_str_eq(cfg.hostname, "mx.example.org");
	ck_assert_uint_eq(cfg.local_domains.n, 3);
	ck_assert_str_eq(cfg.local_domains.v[2], "other.example");
	ck_assert(config_is_local_domain(&cfg, "Example.NET"));
	ck_assert(!config_is_local_domain(&cfg, "mx.example.org"));
	ck_assert(!config_is_local_domain(&cfg, "sub.example.org"));
	ck_assert(config_is_relay_domain(&cfg, "a.relay.example"));
	ck_assert(config_is_relay_domain(&cfg, "a.b.RELAY.example"));
	ck_assert(!config_is_relay_domain(&cfg, "relay.example"));
	ck_assert(!config_is_relay_domain(&cfg, "xrelay.example"));
	ck_assert(relays(&cfg, "192.0.2.77"));
	ck_assert(relays(&cfg, "2001:db8::5"));
	ck_assert(!relays(&cfg, "127.0.0.1"));
	ck_assert_str_eq(cfg.spool, "/srv/spool");
	ck_assert_uint_eq(cfg.max_message_size, 10485760);
	ck_assert_uint_eq(cfg.max_recipients, 5);
	ck_assert_uint_eq(cfg.smtp_timeout, 90);
	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	ck_assert_str_eq(cfg.tls_cert, path);
	ck_assert_str_eq(cfg.tls_key, "/etc/ssl/key.pem");
	ck_assert_ptr_null(cfg.aliases);
	ck_assert_uint_eq(cfg.dns_servers.n, 2);
	ck_assert_str_eq(cfg.dns_servers.v[1], "::1");
	ck_assert_uint_eq(cfg.remote_port, 2526);
	ck_assert_uint_eq(cfg.delay_warning, 0);
	ck_assert_uint_eq(cfg.listen.n, 2);
	ck_assert_str_eq(cfg.listen.v[1], "[::1]:25");
	ck_assert_int_eq(cfg.bare_newline, BARE_NEWLINE_NORMALIZE);
	ck_assert(!cfg.local_case_insensitive);
	ck_assert_int_eq(cfg.recipient_delimiter, 0);
	ck_assert_str_eq(cfg.alias_user, "mail-alias");
	ck_assert(!cfg.reverse_dns);
	config_free(&cfg);
}
END_TEST

/* An internationalised domain matches in either form: as written
 * (U-labels, what SMTPUTF8 clients send) and as A-labels (what the rest
 * send), whichever of the two the administrator wrote. */
START_TEST(test_idn_domains)
{
	struct config cfg;

	ck_assert_str_eq(load("local_domains = M\xc3\xbcnchen.example, "
	    "xn--bcher-kva.example\n"
	    "relay_domains = .b\xc3\xbc" "cher.example\n", &cfg), "");
	ck_assert(config_is_local_domain(&cfg, "m\xc3\xbcnchen.example"));
	ck_assert(config_is_local_domain(&cfg, "M\xc3\x9cnchen.example"));
	ck_assert(config_is_local_domain(&cfg, "xn--mnchen-3ya.example"));
	ck_assert(config_is_local_domain(&cfg, "XN--MNCHEN-3YA.example"));
	ck_assert(config_is_local_domain(&cfg, "b\xc3\xbc" "cher.example"));
	ck_assert(config_is_local_domain(&cfg, "xn--bcher-kva.example"));
	ck_assert(!config_is_local_domain(&cfg, "munchen.example"));
	ck_assert(!config_is_local_domain(&cfg, "sub.xn--mnchen-3ya.example"));
	ck_assert(config_is_relay_domain(&cfg, "a.xn--bcher-kva.example"));
	ck_assert(config_is_relay_domain(&cfg, "a.b\xc3\xbc" "cher.example"));
	ck_assert(!config_is_relay_domain(&cfg, "xn--bcher-kva.example"));
	config_free(&cfg);
	/* not a valid IDN (a symbol IDNA2008 disallows): refused at load */
	ck_assert_str_eq(load("local_domains = \xe2\x98\x83.example\n",
	    &cfg), "/posthorn.conf:1: local_domains: string contains a "
	    "disallowed character");
}
END_TEST

START_TEST(test_errors)
{
	struct config cfg;

	ck_assert_str_eq(load("hostname = a.b\nfoo = 1\n", &cfg),
	    "/posthorn.conf:2: foo: unknown key");
	ck_assert_str_eq(load("\n\nfo\x01o = 1\n", &cfg),
	    "/posthorn.conf:3: fo?o: unknown key");
	ck_assert_str_eq(load("max_recipients = 5\nmax_recipients = 6\n",
	    &cfg), "/posthorn.conf:2: max_recipients: duplicate key");
	ck_assert_str_eq(load("max_recipients = 0\n", &cfg),
	    "/posthorn.conf:1: max_recipients: value out of range");
	ck_assert_str_eq(load("max_recipients = -5\n", &cfg),
	    "/posthorn.conf:1: max_recipients: malformed number");
	ck_assert_str_eq(load("max_recipients =\n", &cfg),
	    "/posthorn.conf:1: max_recipients: malformed number");
	ck_assert_str_eq(load("smtp_timeout = 5 m\n", &cfg),
	    "/posthorn.conf:1: smtp_timeout: malformed duration "
	    "(e.g. 30s, 5m, 4h, 5d)");
	ck_assert_str_eq(load("smtp_timeout = 2d\n", &cfg),
	    "/posthorn.conf:1: smtp_timeout: value out of range");
	ck_assert_str_eq(load("max_message_size = 35MB\n", &cfg),
	    "/posthorn.conf:1: max_message_size: malformed size "
	    "(e.g. 512, 100k, 35M)");
	ck_assert_str_eq(load("relay_networks = 127.0.0.1/8\n", &cfg),
	    "/posthorn.conf:1: relay_networks: host bits set beyond the "
	    "prefix length");
	ck_assert_str_eq(load("local_domains = a..b\n", &cfg),
	    "/posthorn.conf:1: local_domains: empty label in domain");
	ck_assert_str_eq(load("hostname = [1.2.3.4]\n", &cfg),
	    "/posthorn.conf:1: hostname: not a domain name");
	ck_assert_str_eq(load("spool = var/spool\n", &cfg),
	    "/posthorn.conf:1: spool: must be an absolute path");
	ck_assert_str_eq(load("listen = 127.0.0.1\n", &cfg),
	    "/posthorn.conf:1: listen: a port is required (host:port)");
	ck_assert_str_eq(load("dns_servers = ns.example\n", &cfg),
	    "/posthorn.conf:1: dns_servers: not a numeric IP address");
	ck_assert_str_eq(load("remote_port = 65536\n", &cfg),
	    "/posthorn.conf:1: remote_port: value out of range");
	ck_assert_str_eq(load("reverse_dns = maybe\n", &cfg),
	    "/posthorn.conf:1: reverse_dns: expected yes or no");
	ck_assert_str_eq(load("recipient_delimiter = ++\n", &cfg),
	    "/posthorn.conf:1: recipient_delimiter: expected one of + - _ = "
	    "or nothing");
	ck_assert_str_eq(load("bare_newline = accept\n", &cfg),
	    "/posthorn.conf:1: bare_newline: expected reject or normalize");
	ck_assert_str_eq(load("alias_user = a;b\n", &cfg),
	    "/posthorn.conf:1: alias_user: not a valid user name");
	/* a comment after a value is refused, not taken as part of it */
	ck_assert_str_eq(load("aliases = /etc/aliases  # site aliases\n",
	    &cfg), "/posthorn.conf:1: aliases: '#' after the value (a comment "
	    "must be on a line of its own)");
	ck_assert_str_eq(load("spool = /srv/spool\t# big disk\n", &cfg),
	    "/posthorn.conf:1: spool: '#' after the value (a comment must be "
	    "on a line of its own)");
	ck_assert_str_eq(load("local_domains = a.example, b.example # x\n",
	    &cfg), "/posthorn.conf:1: local_domains: '#' after the value (a "
	    "comment must be on a line of its own)");
	ck_assert_str_eq(load("aliases = # none yet\n", &cfg),
	    "/posthorn.conf:1: aliases: '#' after the value (a comment must "
	    "be on a line of its own)");
	ck_assert_str_eq(load("spool = /srv/spool#1\n", &cfg), "");
	ck_assert_str_eq(cfg.spool, "/srv/spool#1");
	config_free(&cfg);
	ck_assert_str_eq(load("just some words\n", &cfg),
	    "/posthorn.conf:1: expected \"key = value\"");
	ck_assert_str_eq(load(" = 5\n", &cfg),
	    "/posthorn.conf:1: missing key before '='");
	ck_assert_str_eq(load("\ntls_cert = /c.pem\n", &cfg),
	    "/posthorn.conf:2: tls_cert: set both tls_cert and tls_key, or "
	    "neither");
	ck_assert_str_eq(load("tls_key = /k.pem\n", &cfg),
	    "/posthorn.conf:1: tls_key: set both tls_cert and tls_key, or "
	    "neither");
	ck_assert_str_eq(load("retry_min = 2h\nretry_max = 1h\n", &cfg),
	    "/posthorn.conf:2: retry_max: retry_min is larger than retry_max");
	ck_assert_str_eq(load("retry_min = 5h\n", &cfg),
	    "/posthorn.conf:1: retry_min: retry_min is larger than retry_max");
	ck_assert_str_eq(load("smtps_listen = 127.0.0.1:465\n", &cfg),
	    "/posthorn.conf:1: smtps_listen: needs tls_cert and tls_key");
}
END_TEST

START_TEST(test_hostile_file)
{
	struct config cfg;
	struct buf b = BUF_INIT;
	struct buf err = BUF_INIT;
	size_t i;

	write_conf("hostname = a.b\0x\n", 17);
	ck_assert_int_eq(config_load(dir, &cfg, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err),
	    "posthorn.conf: contains a NUL octet"));
	buf_append_str(&b, "hostname = ");
	for (i = 0; i < 5000; i++)
		buf_append_char(&b, 'a');
	buf_append_str(&b, "\n");
	write_conf(b.data, b.len);
	ck_assert_int_eq(config_load(dir, &cfg, &err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err),
	    "posthorn.conf:1: line too long"));
	/* a control character in a value is an error; a CR left over from
	 * a doubled CRLF would otherwise make a path name no file */
	ck_assert_str_eq(load("spool = /var/spool/posthorn\rmax_recipients = "
	    "5\r\n", &cfg), "/posthorn.conf:1: spool: control character in "
	    "the value (a carriage return)");
	ck_assert_str_eq(load("hostname = a.b\naliases = /etc/aliases\r\r\n",
	    &cfg), "/posthorn.conf:2: aliases: control character in the "
	    "value (a carriage return)");
	ck_assert_str_eq(load("mailboxes = /etc/mail\x1b[2Jboxes\n", &cfg),
	    "/posthorn.conf:1: mailboxes: control character in the value");
	ck_assert_str_eq(load("mail_spool_dir = /var/mail\x7f\n", &cfg),
	    "/posthorn.conf:1: mail_spool_dir: control character in the "
	    "value");
	ck_assert_str_eq(load("alias_user = nobody\v\n", &cfg),
	    "/posthorn.conf:1: alias_user: control character in the value");
	ck_assert_str_eq(load("aliases = /etc/al\tiases\n", &cfg),
	    "/posthorn.conf:1: aliases: control character in the value "
	    "(a tab)");
	/* an IPv4 literal is stored as addresses are parsed: decimal,
	 * without leading zeros */
	ck_assert_str_eq(load("local_domains = [192.000.002.001], x.example\n",
	    &cfg), "");
	ck_assert_str_eq(cfg.local_domains.v[0], "[192.0.2.1]");
	ck_assert(config_is_local_domain(&cfg, "[192.0.2.1]"));
	config_free(&cfg);
	/* tabs are blanks around the '=' and between list entries */
	ck_assert_str_eq(load("local_domains = a.example,\tb.example\t\n",
	    &cfg), "");
	ck_assert_uint_eq(cfg.local_domains.n, 2);
	config_free(&cfg);
	/* no trailing newline, CRLF endings */
	ck_assert_str_eq(load("max_recipients = 7\r\nremote_port = 26", &cfg),
	    "");
	ck_assert_uint_eq(cfg.max_recipients, 7);
	ck_assert_uint_eq(cfg.remote_port, 26);
	config_free(&cfg);
	buf_free(&b);
	buf_free(&err);
}
END_TEST

START_TEST(test_dir_and_libexec)
{
	char p[PATH_MAX], exe[PATH_MAX];
	ssize_t n;

	unsetenv("POSTHORN_CONF");
	ck_assert_str_eq(config_dir(NULL), "/etc/posthorn");
	ck_assert_str_eq(config_dir("/x"), "/x");
	setenv("POSTHORN_CONF", "/env/conf", 1);
	ck_assert_str_eq(config_dir(NULL), "/env/conf");
	ck_assert_str_eq(config_dir(""), "/env/conf");
	ck_assert_str_eq(config_dir("/arg"), "/arg");
	setenv("POSTHORN_LIBEXEC", "/fake/agents", 1);
	ck_assert_int_eq(libexec_path("posthorn-local", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/fake/agents/posthorn-local");
	ck_assert_int_eq(libexec_path("posthorn-local", p, 10), -1);
	ck_assert_int_eq(libexec_path("../x", p, sizeof(p)), -1);
	unsetenv("POSTHORN_LIBEXEC");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	ck_assert_int_eq(libexec_path("posthorn-remote", p, sizeof(p)), 0);
	ck_assert_int_eq(strncmp(p, exe, strlen(exe)), 0);
	ck_assert_str_eq(p + strlen(exe), "/posthorn-remote");
}
END_TEST

START_TEST(test_parse_memory)
{
	struct config cfg;
	struct buf err = BUF_INIT;

	ck_assert_int_eq(config_parse("/cfg", "mem.conf",
	    "max_recipients = 3\nmailboxes = mb\n", 34, &cfg, &err), 0);
	ck_assert_uint_eq(cfg.max_recipients, 3);
	ck_assert_str_eq(cfg.mailboxes, "/cfg/mb");
	ck_assert_str_eq(cfg.passwd, "/cfg/passwd");
	config_free(&cfg);
	ck_assert_int_eq(config_parse("/cfg", "mem.conf", "x = 1", 5, &cfg,
	    &err), -1);
	ck_assert_str_eq(buf_str(&err), "mem.conf:1: x: unknown key");
	/* the length bounds the text: no NUL needed, none read past */
	ck_assert_int_eq(config_parse("/cfg", "mem.conf", "remote_port = 2599",
	    17, &cfg, &err), 0);
	ck_assert_uint_eq(cfg.remote_port, 259);
	config_free(&cfg);
	buf_free(&err);
}
END_TEST

START_TEST(test_relative_dir)
{
	struct config cfg;
	struct buf err = BUF_INIT;
	char want[PATH_MAX + 32];

	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(config_parse("conf.d", "conf.d/posthorn.conf",
	    "tls_cert = c.pem\ntls_key = /k.pem\n", 33, &cfg, &err), 0);
	snprintf(want, sizeof(want), "%s/conf.d", dir);
	ck_assert_str_eq(cfg.dir, want);
	snprintf(want, sizeof(want), "%s/conf.d/c.pem", dir);
	ck_assert_str_eq(cfg.tls_cert, want);
	snprintf(want, sizeof(want), "%s/conf.d/aliases", dir);
	ck_assert_str_eq(cfg.aliases, want);
	config_free(&cfg);
	buf_free(&err);
}
END_TEST

START_TEST(test_every_key_documented)
{
	struct buf man = BUF_INIT, pat = BUF_INIT;
	const char *k;
	size_t i;

	/* make runs the tests from the top of the tree */
	ck_assert_int_eq(io_read_file("man/posthorn.conf.5", 1 << 20, &man),
	    0);
	for (i = 0; (k = config_key_name(i)) != NULL; i++) {
		buf_reset(&pat);
		buf_printf(&pat, "Cm %s No =", k);
		if (strstr(buf_str(&man), buf_str(&pat)) == NULL)
			ck_abort_msg("key %s is not in posthorn.conf(5)", k);
	}
	ck_assert_uint_ge(i, 41);
	buf_free(&man);
	buf_free(&pat);
}
END_TEST

START_TEST(test_strlist)
{
	struct strlist l = { NULL, 0 };

	ck_assert_int_eq(strlist_add(&l, "Example.org"), 0);
	ck_assert_int_eq(strlist_add(&l, ".sub.example"), 0);
	ck_assert(strlist_contains_domain(&l, "example.ORG"));
	ck_assert(!strlist_contains_domain(&l, "a.example.org"));
	ck_assert(strlist_contains_domain(&l, "x.sub.example"));
	ck_assert(!strlist_contains_domain(&l, "sub.example"));
	ck_assert(!strlist_contains_domain(&l, ""));
	strlist_free(&l);
	ck_assert_uint_eq(l.n, 0);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 20);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_idn_domains);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_hostile_file);
	tcase_add_test(tc, test_dir_and_libexec);
	tcase_add_test(tc, test_parse_memory);
	tcase_add_test(tc, test_relative_dir);
	tcase_add_test(tc, test_every_key_documented);
	tcase_add_test(tc, test_strlist);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

# smtpd/module.mk — posthorn-smtpd (SMTP server) and
# posthorn-checkpassword (checkpassword-interface verifier for AUTH).
PROGRAMS += posthorn-smtpd posthorn-checkpassword
posthorn-smtpd_MAIN := smtpd/main.c
posthorn-checkpassword_MAIN := smtpd/checkpassword.c
smtpd_SRCS := smtpd/parse.c smtpd/data.c smtpd/session.c smtpd/txn.c \
	smtpd/received.c smtpd/tls.c smtpd/auth.c smtpd/sink.c \
	smtpd/server.c smtpd/memsink.c

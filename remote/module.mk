# remote/module.mk — posthorn-remote, the SMTP/LMTP delivery agent.
PROGRAMS += posthorn-remote
posthorn-remote_MAIN := remote/main.c
remote_SRCS := remote/reply.c remote/dns.c remote/body.c remote/tls.c \
               remote/mtasts.c \
               remote/smtp.c remote/deliver.c

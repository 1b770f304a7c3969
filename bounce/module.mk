# posthorn-bounce: delivery status notifications (RFC 3464 / 6522 / 6533)
PROGRAMS += posthorn-bounce
posthorn-bounce_MAIN := bounce/main.c
bounce_SRCS := bounce/scan.c bounce/text.c bounce/dsn.c bounce/job.c

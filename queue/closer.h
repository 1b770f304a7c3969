/*
 * closer.h — close descriptors on a thread of their own (see closer.c).
 */
#ifndef POSTHORN_QUEUE_CLOSER_H
#define POSTHORN_QUEUE_CLOSER_H

/* Start the thread.  0 ok; -1 (errno): closer_close() closes inline. */
int closer_start(void);
/* Close fd, on the thread when it runs and takes it at once, else here.
 * fd must not be used or closed by the caller afterwards. */
void closer_close(int fd);

#endif

/* loop.h: ferryd's single-threaded event loop (epoll): fd handlers, one-shot
 * timers and a periodic cron. */
#ifndef FERRYD_LOOP_H
#define FERRYD_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
typedef void (*loop_fd_fn)(struct loop *l, int fd, uint32_t events, void *opaque);
typedef void (*loop_timer_fn)(struct loop *l, void *opaque);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watches fd for reading (always) and writing (if want_write). */
int loop_add_fd(struct loop *l, int fd, bool want_write, loop_fd_fn fn, void *opaque);
int loop_set_write(struct loop *l, int fd, bool want_write);
/* Stops (false) or resumes reading fd: a consumer that is behind holds its
 * producer back instead of buffering without limit. */
int loop_set_read(struct loop *l, int fd, bool want_read);
void loop_del_fd(struct loop *l, int fd);

/* Calls fn once, after delay_ms. Returns an id for loop_cancel_timer. */
long loop_add_timer(struct loop *l, int delay_ms, loop_timer_fn fn, void *opaque);
void loop_cancel_timer(struct loop *l, long id);
/* Calls fn every period_ms (the agent's cron). */
void loop_set_cron(struct loop *l, int period_ms, loop_timer_fn fn, void *opaque);

/* Runs until loop_stop (and may be run again after). */
void loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif

/* loop.c: ferryd's event loop: epoll for fds, a sorted list for timers. */
#include "ferryd/loop.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>

struct handler {
	int fd;
	loop_fd_fn fn;
	void *opaque;
	bool want_write;
	bool no_read;            /* loop_set_read(false): backpressure */
	struct handler *next;
};

struct timer {
	long id;
	int64_t due_us;
	loop_timer_fn fn;
	void *opaque;
	struct timer *next;
};

struct loop {
	int ep;
	bool stop;
	struct handler *handlers;
	struct timer *timers;  /* sorted by due_us */
	long next_timer_id;
	int cron_ms;
	int64_t cron_due_us;
	loop_timer_fn cron_fn;
	void *cron_opaque;
};

struct loop *loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof(*l));

	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->next_timer_id = 1;
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	while (l->handlers) {
		struct handler *h = l->handlers;
		l->handlers = h->next;
		free(h);
	}
	while (l->timers) {
		struct timer *t = l->timers;
		l->timers = t->next;
		free(t);
	}
	close(l->ep);
	free(l);
}

static struct handler *find(struct loop *l, int fd)
{
	for (struct handler *h = l->handlers; h; h = h->next)
		if (h->fd == fd)
			return h;
	return NULL;
}

static int arm(struct loop *l, struct handler *h, int op)
{
	struct epoll_event ev = { .events = (h->no_read ? 0 : EPOLLIN | EPOLLRDHUP) | (h->want_write ? EPOLLOUT : 0),
				  .data.fd = h->fd };

	return epoll_ctl(l->ep, op, h->fd, &ev) < 0 ? -errno : 0;
}

int loop_add_fd(struct loop *l, int fd, bool want_write, loop_fd_fn fn, void *opaque)
{
	struct handler *h = xcalloc(1, sizeof(*h));
	int r;

	h->fd = fd;
	h->fn = fn;
	h->opaque = opaque;
	h->want_write = want_write;
	if ((r = arm(l, h, EPOLL_CTL_ADD)) < 0) {
		free(h);
		return r;
	}
	h->next = l->handlers;
	l->handlers = h;
	return 0;
}

int loop_set_write(struct loop *l, int fd, bool want_write)
{
	struct handler *h = find(l, fd);

	if (!h)
		return -ENOENT;
	if (h->want_write == want_write)
		return 0;
	h->want_write = want_write;
	return arm(l, h, EPOLL_CTL_MOD);
}

int loop_set_read(struct loop *l, int fd, bool want_read)
{
	struct handler *h = find(l, fd);

	if (!h)
		return -ENOENT;
	if (h->no_read == !want_read)
		return 0;
	h->no_read = !want_read;
	return arm(l, h, EPOLL_CTL_MOD);
}

void loop_del_fd(struct loop *l, int fd)
{
	for (struct handler **hp = &l->handlers; *hp; hp = &(*hp)->next) {
		if ((*hp)->fd != fd)
			continue;
		struct handler *h = *hp;
		*hp = h->next;
		epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
		free(h);
		return;
	}
}

long loop_add_timer(struct loop *l, int delay_ms, loop_timer_fn fn, void *opaque)
{
	struct timer *t = xcalloc(1, sizeof(*t)), **tp;

	t->id = l->next_timer_id++;
	t->due_us = time_mono_us() + (int64_t)delay_ms * 1000;
	t->fn = fn;
	t->opaque = opaque;
	for (tp = &l->timers; *tp && (*tp)->due_us <= t->due_us; tp = &(*tp)->next)
		;
	t->next = *tp;
	*tp = t;
	return t->id;
}

void loop_cancel_timer(struct loop *l, long id)
{
	for (struct timer **tp = &l->timers; *tp; tp = &(*tp)->next) {
		if ((*tp)->id == id) {
			struct timer *t = *tp;
			*tp = t->next;
			free(t);
			return;
		}
	}
}

void loop_set_cron(struct loop *l, int period_ms, loop_timer_fn fn, void *opaque)
{
	l->cron_ms = period_ms;
	l->cron_fn = fn;
	l->cron_opaque = opaque;
	l->cron_due_us = time_mono_us() + (int64_t)period_ms * 1000;
}

void loop_stop(struct loop *l) { l->stop = true; }

void loop_run(struct loop *l)
{
	struct epoll_event evs[32];

	while (!l->stop) {
		int64_t now = time_mono_us(), next = now + 1000000;
		if (l->cron_fn && l->cron_due_us < next)
			next = l->cron_due_us;
		if (l->timers && l->timers->due_us < next)
			next = l->timers->due_us;
		int wait_ms = next > now ? (int)((next - now + 999) / 1000) : 0;
		int n = epoll_wait(l->ep, evs, ARRAY_SIZE(evs), wait_ms);
		for (int i = 0; i < n; i++) {
			/* A handler may remove others: look each one up again. */
			struct handler *h = find(l, evs[i].data.fd);
			if (h)
				h->fn(l, h->fd, evs[i].events, h->opaque);
		}
		now = time_mono_us();
		while (l->timers && l->timers->due_us <= now) {
			struct timer *t = l->timers;
			l->timers = t->next;
			t->fn(l, t->opaque);
			free(t);
		}
		if (l->cron_fn && l->cron_due_us <= now) {
			l->cron_due_us = now + (int64_t)l->cron_ms * 1000;
			l->cron_fn(l, l->cron_opaque);
		}
	}
	l->stop = false;   /* it may run again (the unit tests do) */
}

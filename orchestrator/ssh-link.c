/*
 * ssh-link.c: the daemon's kept-open SSH session to one instance.
 *
 * One non-blocking libssh2 session per instance, driven by the daemon's
 * event loop: no thread and no blocking call per connection. On it run
 * short commands (GPU samples, heartbeats) and direct-tcpip channels for
 * tunnels: each forward is a listener on 127.0.0.1 whose connections are
 * carried to host:port on the instance, all multiplexed over the one
 * session. A dropped session is re-established with backoff; listeners
 * stay, so a tunnel's local port never changes, and connections that
 * arrive meanwhile wait (bounded) for the session to come back.
 *
 * libssh2 reads the socket on behalf of every channel, so one readable
 * event may leave data queued in channels nobody is watching: the pump
 * visits every channel and goes round again while any made progress.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "fleet.h"
#include "ssh.h"

/* glibc's sys/queue.h lacks the _SAFE walk (removal while iterating). */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

#define LINK_BACKOFF_MIN_MS	1000
#define LINK_BACKOFF_MAX_MS	30000
#define LINK_CHUNK		32768
#define LINK_OUT_CAP		(1024 * 1024)	/* per client, then wait */
#define LINK_PUMP_ROUNDS	64

enum link_state {
	LINK_IDLE,		/* waiting to (re)connect */
	LINK_CONNECTING,	/* TCP connect under way */
	LINK_HANDSHAKE,
	LINK_AUTH,
	LINK_READY
};

struct ssh_op {
	TAILQ_ENTRY(ssh_op)	 entry;
	char			*cmd;
	size_t			 max;
	int64_t			 deadline;	/* monotonic ms */
	ssh_exec_cb		 cb;
	void			*arg;
	LIBSSH2_CHANNEL		*ch;
	enum { OP_OPEN, OP_EXEC, OP_READ, OP_CLOSE } step;
	char			*out;
	size_t			 len;
};

struct ssh_fwd {
	TAILQ_ENTRY(ssh_fwd)	 entry;
	struct ssh_link		*link;
	char			*host;
	int			 port;
	int			 lport;
	struct evconnlistener	*listener;
};

struct ssh_fconn {
	TAILQ_ENTRY(ssh_fconn)	 entry;
	struct ssh_link		*link;
	struct ssh_fwd		*fwd;
	struct bufferevent	*bev;
	LIBSSH2_CHANNEL		*ch;
	int64_t			 deadline;	/* for the channel to open */
	int			 client_eof;
	int			 eof_sent;
	int			 chan_eof;
	int			 dead;		/* close at the next pump */
};

struct ssh_link {
	struct event_base	*base;
	struct ssh_target	 t;
	char			*name;
	enum link_state		 state;
	struct ssh_sess		 ss;		/* fd -1, s NULL when down */
	struct event		*io;
	struct event		*tick;
	struct event		*kick;
	int64_t			 retry_at;
	int64_t			 backoff_ms;
	int64_t			 deadline;	/* of the connect phases */
	int			 broken;	/* a socket error was seen */
	int64_t			 refused_logged;	/* rate limit, ms */
	char			*error;		/* last failure, or NULL */
	LIBSSH2_AGENT		*agent;
	struct libssh2_agent_publickey *agent_id;
	TAILQ_HEAD(, ssh_op)	 ops;
	TAILQ_HEAD(, ssh_fwd)	 fwds;
	TAILQ_HEAD(, ssh_fconn)	 conns;
	LIBSSH2_CHANNEL	       **dead;		/* channels still closing */
	size_t			 ndead;
	uint64_t		 bytes_in;	/* from the instance */
	uint64_t		 bytes_out;
};

static void	link_pump(struct ssh_link *);
static void	link_arm(struct ssh_link *);

static void
link_kick(struct ssh_link *l)
{
	event_active(l->kick, EV_TIMEOUT, 0);
}

static void
link_set_error(struct ssh_link *l, char *why)
{
	if (why == NULL)
		return;
	if (l->error == NULL || strcmp(l->error, why) != 0)
		log_warn("ssh %s: %s", l->name, why);
	else
		log_debug("ssh %s: %s", l->name, why);
	free(l->error);
	l->error = why;
}

static void
link_agent_free(struct ssh_link *l)
{
	if (l->agent != NULL) {
		libssh2_agent_disconnect(l->agent);
		libssh2_agent_free(l->agent);
		l->agent = NULL;
		l->agent_id = NULL;
	}
}

/* A channel still to be freed (libssh2 may need several tries). */
static void
link_bury(struct ssh_link *l, LIBSSH2_CHANNEL *ch)
{
	if (ch == NULL)
		return;
	l->dead = xreallocarray(l->dead, l->ndead + 1, sizeof *l->dead);
	l->dead[l->ndead++] = ch;
}

static void
fconn_free(struct ssh_fconn *c)
{
	struct ssh_link	*l = c->link;

	TAILQ_REMOVE(&l->conns, c, entry);
	link_bury(l, c->ch);
	bufferevent_free(c->bev);
	free(c);
}

static void
op_finish(struct ssh_link *l, struct ssh_op *op, int status)
{
	TAILQ_REMOVE(&l->ops, op, entry);
	link_bury(l, op->ch);
	op->cb(status, op->out != NULL ? op->out : "", op->len, op->arg);
	free(op->out);
	free(op->cmd);
	free(op);
}

/*
 * Drop the session: its channels die with it. Connections that had a
 * channel are closed; ones still waiting for one keep waiting for the
 * next session; commands in flight fail.
 */
static void
link_drop(struct ssh_link *l, char *why)
{
	struct ssh_fconn	*c, *c1;
	struct ssh_op		*op, *op1;

	link_set_error(l, why);
	TAILQ_FOREACH_SAFE(c, &l->conns, entry, c1) {
		if (c->ch != NULL) {
			c->ch = NULL;	/* freed with the session */
			TAILQ_REMOVE(&l->conns, c, entry);
			bufferevent_free(c->bev);
			free(c);
		}
	}
	TAILQ_FOREACH_SAFE(op, &l->ops, entry, op1) {
		if (op->ch != NULL) {
			op->ch = NULL;
			op_finish(l, op, -1);
		}
	}
	free(l->dead);
	l->dead = NULL;
	l->ndead = 0;
	link_agent_free(l);
	if (l->ss.s != NULL) {
		/*
		 * Free in blocking mode on a shut-down socket: every write
		 * fails at once, so nothing waits on a dead peer.
		 */
		if (l->ss.fd != -1)
			shutdown(l->ss.fd, SHUT_RDWR);
		libssh2_session_set_blocking(l->ss.s, 1);
		libssh2_session_set_timeout(l->ss.s, 500);
		libssh2_session_free(l->ss.s);
		l->ss.s = NULL;
	}
	if (l->ss.fd != -1) {
		event_del(l->io);
		close(l->ss.fd);
		l->ss.fd = -1;
	}
	free(l->ss.where);
	l->ss.where = NULL;
	l->state = LINK_IDLE;
	l->broken = 0;
	l->retry_at = now_mono_ms() + l->backoff_ms;
	l->backoff_ms = l->backoff_ms * 2 > LINK_BACKOFF_MAX_MS ?
	    LINK_BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static char *
link_lasterr(struct ssh_link *l, const char *what)
{
	char	*e = ssh_session_error(l->ss.s), *msg;

	msg = xprintf("%s: %s", what, e);
	free(e);
	return (msg);
}

static void
link_connect(struct ssh_link *l)
{
	char	*cause = NULL;

	if (ssh_sess_socket(&l->ss, &l->t, &cause) == -1) {
		if (l->ss.s != NULL) {
			libssh2_session_free(l->ss.s);
			l->ss.s = NULL;
		}
		link_drop(l, cause);
		return;
	}
	l->state = LINK_CONNECTING;
	l->deadline = now_mono_ms() + l->t.timeout_ms;
}

/* A socket-level failure means the session is gone for every channel. */
static void
link_note(struct ssh_link *l, long rc)
{
	if (rc == LIBSSH2_ERROR_SOCKET_DISCONNECT ||
	    rc == LIBSSH2_ERROR_SOCKET_RECV || rc == LIBSSH2_ERROR_SOCKET_SEND ||
	    rc == LIBSSH2_ERROR_SOCKET_TIMEOUT)
		l->broken = 1;
}

/* Advance connect -> handshake -> host key -> login. 1 ready. */
static int
link_login(struct ssh_link *l)
{
	struct pollfd	 pfd;
	socklen_t	 len = sizeof(int);
	char		*cause = NULL;
	int		 rc, err = 0;

	switch (l->state) {
	case LINK_CONNECTING:
		pfd.fd = l->ss.fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, 0) <= 0)
			return (0);	/* still connecting */
		if (getsockopt(l->ss.fd, SOL_SOCKET, SO_ERROR, &err,
		    &len) == -1)
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			return (0);
		if (err != 0) {
			link_drop(l, xprintf("connect %s:%d: %s", l->t.host,
			    l->t.port, strerror(err)));
			return (0);
		}
		l->state = LINK_HANDSHAKE;
		/* FALLTHROUGH */
	case LINK_HANDSHAKE:
		rc = libssh2_session_handshake(l->ss.s, l->ss.fd);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return (0);
		if (rc != 0) {
			link_drop(l, link_lasterr(l, "handshake"));
			return (0);
		}
		if (ssh_check_hostkey(&l->ss, &l->t, &cause) == -1) {
			/* Not worth hammering: wait the longest. */
			l->backoff_ms = LINK_BACKOFF_MAX_MS;
			link_drop(l, cause);
			return (0);
		}
		l->state = LINK_AUTH;
		if (l->t.key == NULL) {
			if ((l->agent = libssh2_agent_init(l->ss.s)) == NULL)
				fatalx("libssh2_agent_init failed");
			if (libssh2_agent_connect(l->agent) != 0 ||
			    libssh2_agent_list_identities(l->agent) != 0 ||
			    libssh2_agent_get_identity(l->agent, &l->agent_id,
			    NULL) != 0) {
				link_drop(l, xstrdup("no ssh.key configured "
				    "and ssh-agent has no key"));
				return (0);
			}
		}
		/* FALLTHROUGH */
	case LINK_AUTH:
		if (l->agent != NULL) {
			for (;;) {
				rc = libssh2_agent_userauth(l->agent,
				    l->t.user, l->agent_id);
				if (rc == LIBSSH2_ERROR_EAGAIN)
					return (0);
				if (rc == 0)
					break;
				if (libssh2_agent_get_identity(l->agent,
				    &l->agent_id, l->agent_id) != 0) {
					link_drop(l, xstrdup("ssh-agent has "
					    "no key the server accepts"));
					return (0);
				}
			}
			link_agent_free(l);
		} else {
			rc = libssh2_userauth_publickey_fromfile_ex(l->ss.s,
			    l->t.user, (unsigned int)strlen(l->t.user), NULL,
			    l->t.key, NULL);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return (0);
			if (rc != 0) {
				link_drop(l, link_lasterr(l,
				    "login with the key"));
				return (0);
			}
		}
		l->state = LINK_READY;
		l->backoff_ms = LINK_BACKOFF_MIN_MS;
		libssh2_keepalive_config(l->ss.s, 0, (unsigned)l->t.keepalive);
		if (l->error != NULL)
			log_info("ssh %s: connected again", l->name);
		else
			log_info("ssh %s: connected to %s", l->name,
			    l->ss.where);
		free(l->error);
		l->error = NULL;
		return (1);
	default:
		return (l->state == LINK_READY);
	}
}

/* Step one command. 1 if it made progress. */
static int
op_step(struct ssh_link *l, struct ssh_op *op)
{
	char	 buf[LINK_CHUNK];
	ssize_t	 n;
	size_t	 take;
	int	 rc, progress = 0;

	switch (op->step) {
	case OP_OPEN:
		op->ch = libssh2_channel_open_session(l->ss.s);
		if (op->ch == NULL) {
			rc = libssh2_session_last_errno(l->ss.s);
			if (rc == LIBSSH2_ERROR_EAGAIN)
				return (0);
			link_note(l, rc);
			return (-1);
		}
		op->step = OP_EXEC;
		/* FALLTHROUGH */
	case OP_EXEC:
		rc = libssh2_channel_exec(op->ch, op->cmd);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return (1);
		if (rc != 0) {
			link_note(l, rc);
			return (-1);
		}
		op->step = OP_READ;
		/* FALLTHROUGH */
	case OP_READ:
		while ((n = libssh2_channel_read(op->ch, buf, sizeof buf)) >
		    0) {
			progress = 1;
			take = (size_t)n > op->max - op->len ?
			    op->max - op->len : (size_t)n;
			if (take > 0) {
				op->out = xreallocarray(op->out,
				    op->len + take + 1, 1);
				memcpy(op->out + op->len, buf, take);
				op->len += take;
				op->out[op->len] = '\0';
			}
		}
		while (libssh2_channel_read_stderr(op->ch, buf,
		    sizeof buf) > 0)
			progress = 1;
		if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
			link_note(l, n);
			return (-1);
		}
		if (!libssh2_channel_eof(op->ch))
			return (progress);
		op->step = OP_CLOSE;
		/* FALLTHROUGH */
	case OP_CLOSE:
		rc = libssh2_channel_close(op->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN)
			return (progress);
		rc = libssh2_channel_get_exit_status(op->ch);
		op_finish(l, op, rc);
		return (1);
	}
	return (0);
}

/* Move bytes both ways for one tunnelled connection. 1 on progress. */
static int
fconn_step(struct ssh_link *l, struct ssh_fconn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	char		 buf[LINK_CHUNK];
	unsigned char	*p;
	size_t		 len;
	ssize_t		 n;
	int		 progress = 0;

	if (c->ch == NULL) {
		c->ch = libssh2_channel_direct_tcpip_ex(l->ss.s, c->fwd->host,
		    c->fwd->port, "127.0.0.1", c->fwd->lport);
		if (c->ch == NULL) {
			n = libssh2_session_last_errno(l->ss.s);
			if (n == LIBSSH2_ERROR_EAGAIN)
				return (0);
			link_note(l, n);
			if (l->broken)
				return (1);	/* wait for the next session */
			/* Clients trigger this: one line a second at most. */
			if (now_mono_ms() - l->refused_logged >= 1000) {
				l->refused_logged = now_mono_ms();
				log_info("ssh %s: tunnel to %s:%d refused (is "
				    "the service listening there?)", l->name,
				    c->fwd->host, c->fwd->port);
			}
			c->dead = 1;
			return (1);
		}
		progress = 1;
	}
	/* Client to instance. */
	while ((len = evbuffer_get_length(in)) > 0) {
		if (len > LINK_CHUNK)
			len = LINK_CHUNK;
		p = evbuffer_pullup(in, (ev_ssize_t)len);
		n = libssh2_channel_write(c->ch, (const char *)p, len);
		if (n == LIBSSH2_ERROR_EAGAIN)
			break;
		if (n < 0) {
			link_note(l, n);
			c->dead = 1;
			return (1);
		}
		evbuffer_drain(in, (size_t)n);
		l->bytes_out += (uint64_t)n;
		progress = 1;
	}
	if (c->client_eof && evbuffer_get_length(in) == 0 && !c->eof_sent) {
		n = libssh2_channel_send_eof(c->ch);
		if (n != LIBSSH2_ERROR_EAGAIN) {
			c->eof_sent = 1;
			progress = 1;
		}
	}
	/* Instance to client, while the client keeps up. */
	while (!c->chan_eof && evbuffer_get_length(out) < LINK_OUT_CAP) {
		n = libssh2_channel_read(c->ch, buf, sizeof buf);
		if (n > 0) {
			bufferevent_write(c->bev, buf, (size_t)n);
			l->bytes_in += (uint64_t)n;
			progress = 1;
			continue;
		}
		if (n == LIBSSH2_ERROR_EAGAIN)
			break;
		if (n < 0) {
			link_note(l, n);
			c->dead = 1;
			return (1);
		}
		if (libssh2_channel_eof(c->ch)) {
			c->chan_eof = 1;
			progress = 1;
		}
		break;
	}
	if (c->chan_eof && evbuffer_get_length(out) == 0) {
		c->dead = 1;	/* all delivered */
		progress = 1;
	}
	return (progress);
}

static int
link_pump_channels(struct ssh_link *l)
{
	struct ssh_op		*op, *op1;
	struct ssh_fconn	*c, *c1;
	size_t			 i;
	int			 progress = 0, rc;

	TAILQ_FOREACH_SAFE(op, &l->ops, entry, op1) {
		if ((rc = op_step(l, op)) == -1) {
			log_debug("ssh %s: %s: failed", l->name, op->cmd);
			op_finish(l, op, -1);
			progress = 1;
		} else if (rc == 1)
			progress = 1;
	}
	TAILQ_FOREACH_SAFE(c, &l->conns, entry, c1) {
		if (l->broken)
			break;
		if (!c->dead && fconn_step(l, c))
			progress = 1;
		if (c->dead)
			fconn_free(c);
	}
	for (i = 0; i < l->ndead; ) {
		if (libssh2_channel_free(l->dead[i]) == LIBSSH2_ERROR_EAGAIN) {
			i++;
			continue;
		}
		l->dead[i] = l->dead[--l->ndead];
	}
	return (progress);
}

/* Is the session still alive? A broken socket shows here first. */
static int
link_session_broken(struct ssh_link *l)
{
	int	 e = libssh2_session_last_errno(l->ss.s);

	return (e == LIBSSH2_ERROR_SOCKET_DISCONNECT ||
	    e == LIBSSH2_ERROR_SOCKET_RECV || e == LIBSSH2_ERROR_SOCKET_SEND ||
	    e == LIBSSH2_ERROR_SOCKET_TIMEOUT || e == LIBSSH2_ERROR_TIMEOUT);
}

static void
link_pump(struct ssh_link *l)
{
	int	 round;

	if (l->state == LINK_IDLE)
		return;
	if (l->state != LINK_READY && !link_login(l)) {
		link_arm(l);
		return;
	}
	for (round = 0; round < LINK_PUMP_ROUNDS; round++) {
		if (!link_pump_channels(l) || l->broken)
			break;
	}
	if (round == LINK_PUMP_ROUNDS)
		link_kick(l);	/* more to do: let others run first */
	if (l->ss.s != NULL && (l->broken || link_session_broken(l))) {
		link_drop(l, xstrdup("connection lost"));
		return;
	}
	link_arm(l);
}

static void
link_io_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	link_pump(arg);
}

static void
link_kick_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	link_pump(arg);
}

/* Watch the socket for what libssh2 waits on (and input if any use). */
static void
link_arm(struct ssh_link *l)
{
	short	 what = 0;
	int	 dirs;

	if (l->ss.fd == -1)
		return;
	event_del(l->io);
	if (l->state == LINK_CONNECTING)
		what = EV_WRITE;
	else {
		dirs = libssh2_session_block_directions(l->ss.s);
		if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			what |= EV_WRITE;
		/*
		 * Input matters while logging in or while any channel is
		 * open; an idle session is checked by the tick instead, as
		 * nothing would read what the server may send it.
		 */
		if (l->state != LINK_READY || (dirs &
		    LIBSSH2_SESSION_BLOCK_INBOUND) || !TAILQ_EMPTY(&l->ops) ||
		    !TAILQ_EMPTY(&l->conns) || l->ndead > 0)
			what |= EV_READ;
	}
	if (what == 0)
		return;
	event_assign(l->io, l->base, l->ss.fd, what, link_io_cb, l);
	event_add(l->io, NULL);
}

/* Once a second: retries, deadlines, keepalives, a dead idle peer. */
static void
link_tick_cb(evutil_socket_t fd __unused, short ev __unused, void *arg)
{
	struct ssh_link		*l = arg;
	struct ssh_op		*op, *op1;
	struct ssh_fconn	*c, *c1;
	int64_t			 now = now_mono_ms();
	char			 b;
	int			 next;

	TAILQ_FOREACH_SAFE(op, &l->ops, entry, op1) {
		if (now >= op->deadline) {
			log_debug("ssh %s: %s: timed out", l->name, op->cmd);
			op_finish(l, op, -1);
		}
	}
	TAILQ_FOREACH_SAFE(c, &l->conns, entry, c1) {
		if (c->ch == NULL && now >= c->deadline)
			fconn_free(c);	/* no session came in time */
	}
	switch (l->state) {
	case LINK_IDLE:
		if (now >= l->retry_at)
			link_connect(l);
		break;
	case LINK_READY:
		if (libssh2_keepalive_send(l->ss.s, &next) != 0) {
			link_drop(l, xstrdup("keepalive failed: connection "
			    "lost"));
			return;
		}
		if (recv(l->ss.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
			link_drop(l, xstrdup("the server closed the "
			    "connection"));
			return;
		}
		break;
	default:
		if (now >= l->deadline) {
			link_drop(l, xstrdup("login timed out"));
			return;
		}
		break;
	}
	link_pump(l);
}

struct ssh_link *
ssh_link_create(struct event_base *base, const struct ssh_target *t,
    const char *name)
{
	struct ssh_link	*l = xcalloc(1, sizeof *l);
	struct timeval	 tv = { 1, 0 };

	l->base = base;
	l->t.host = xstrdup(t->host);
	l->t.port = t->port;
	l->t.user = xstrdup(t->user);
	l->t.key = t->key != NULL ? xstrdup(t->key) : NULL;
	l->t.known_hosts = xstrdup(t->known_hosts);
	l->t.timeout_ms = t->timeout_ms;
	l->t.keepalive = t->keepalive;
	l->name = xstrdup(name);
	l->ss.fd = -1;
	l->backoff_ms = LINK_BACKOFF_MIN_MS;
	TAILQ_INIT(&l->ops);
	TAILQ_INIT(&l->fwds);
	TAILQ_INIT(&l->conns);
	l->io = event_new(base, -1, 0, link_io_cb, l);
	l->kick = event_new(base, -1, 0, link_kick_cb, l);
	l->tick = event_new(base, -1, EV_PERSIST, link_tick_cb, l);
	event_add(l->tick, &tv);
	link_connect(l);
	link_arm(l);
	return (l);
}

void
ssh_link_free(struct ssh_link *l)
{
	struct ssh_fconn	*c;
	struct ssh_fwd		*f;
	struct ssh_op		*op, *op1;

	if (l == NULL)
		return;
	while ((c = TAILQ_FIRST(&l->conns)) != NULL) {
		TAILQ_REMOVE(&l->conns, c, entry);
		bufferevent_free(c->bev);
		free(c);
	}
	/* As link_drop does; the callbacks start no new commands here. */
	TAILQ_FOREACH_SAFE(op, &l->ops, entry, op1) {
		op->ch = NULL;
		op_finish(l, op, -1);
	}
	while ((f = TAILQ_FIRST(&l->fwds)) != NULL) {
		TAILQ_REMOVE(&l->fwds, f, entry);
		evconnlistener_free(f->listener);
		free(f->host);
		free(f);
	}
	link_drop(l, NULL);
	free(l->error);
	event_free(l->io);
	event_free(l->kick);
	event_free(l->tick);
	ssh_target_clear(&l->t);
	free(l->name);
	free(l);
}

int
ssh_link_ready(const struct ssh_link *l)
{
	return (l->state == LINK_READY);
}

const char *
ssh_link_error(const struct ssh_link *l)
{
	return (l->error);
}

void
ssh_link_stats(const struct ssh_link *l, uint64_t *in, uint64_t *out,
    int *channels)
{
	const struct ssh_fconn	*c;
	int			 n = 0;

	TAILQ_FOREACH(c, &l->conns, entry)
		n++;
	*in = l->bytes_in;
	*out = l->bytes_out;
	*channels = n;
}

void
ssh_link_exec(struct ssh_link *l, const char *cmd, size_t max,
    int64_t timeout_ms, ssh_exec_cb cb, void *arg)
{
	struct ssh_op	*op = xcalloc(1, sizeof *op);

	op->cmd = xstrdup(cmd);
	op->max = max;
	op->deadline = now_mono_ms() + timeout_ms;
	op->cb = cb;
	op->arg = arg;
	op->step = OP_OPEN;
	TAILQ_INSERT_TAIL(&l->ops, op, entry);
	link_kick(l);
}

static void
fconn_read_cb(struct bufferevent *bev __unused, void *arg)
{
	struct ssh_fconn	*c = arg;

	link_kick(c->link);
}

static void
fconn_event_cb(struct bufferevent *bev __unused, short what, void *arg)
{
	struct ssh_fconn	*c = arg;

	if (what & BEV_EVENT_EOF)
		c->client_eof = 1;
	else if (what & BEV_EVENT_ERROR)
		c->dead = 1;
	link_kick(c->link);
}

static void
fwd_accept_cb(struct evconnlistener *lst __unused, evutil_socket_t fd,
    struct sockaddr *sa __unused, int salen __unused, void *arg)
{
	struct ssh_fwd		*f = arg;
	struct ssh_link		*l = f->link;
	struct ssh_fconn	*c = xcalloc(1, sizeof *c);

	c->link = l;
	c->fwd = f;
	c->deadline = now_mono_ms() + l->t.timeout_ms +
	    (l->state == LINK_IDLE ? l->backoff_ms : 0);
	c->bev = bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setwatermark(c->bev, EV_READ, 0, LINK_OUT_CAP);
	bufferevent_setcb(c->bev, fconn_read_cb, fconn_read_cb,
	    fconn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&l->conns, c, entry);
	if (l->state == LINK_IDLE)
		link_connect(l);	/* someone is waiting: try now */
	link_kick(l);
}

int
ssh_link_forward(struct ssh_link *l, const char *host, int port,
    char **cause)
{
	struct ssh_fwd		*f;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;

	TAILQ_FOREACH(f, &l->fwds, entry) {
		if (f->port == port && strcmp(f->host, host) == 0)
			return (f->lport);
	}
	f = xcalloc(1, sizeof *f);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->listener = evconnlistener_new_bind(l->base, fwd_accept_cb, f,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, (struct sockaddr *)&sin, sizeof sin);
	if (f->listener == NULL) {
		*cause = xprintf("tunnel listener: %s", strerror(errno));
		free(f);
		return (-1);
	}
	getsockname(evconnlistener_get_fd(f->listener),
	    (struct sockaddr *)&sin, &len);
	f->link = l;
	f->host = xstrdup(host);
	f->port = port;
	f->lport = ntohs(sin.sin_port);
	TAILQ_INSERT_TAIL(&l->fwds, f, entry);
	log_info("ssh %s: tunnel 127.0.0.1:%d -> %s:%d", l->name, f->lport,
	    host, port);
	return (f->lport);
}

/*
 * ssh.c: sessions to instances over libssh2.
 *
 * Every session is non-blocking underneath. The blocking API here (for
 * commands and health probes) waits with poll() on the directions libssh2
 * asks for, each step bounded by the target's timeout; the daemon drives
 * the same sessions from its event loop instead (ssh-link.c).
 *
 * Host keys: trust on first use, recorded in known_hosts under the state
 * dir (OpenSSH format, [host]:port); a key that changed is refused, never
 * replaced. Login: the configured private key, else ssh-agent, else the
 * usual ~/.ssh/id_ed25519 or id_rsa.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "state.h"
#include "ssh.h"

#define SSH_READ_CHUNK	16384
#define SSH_CIPHERS	"aes128-ctr,aes192-ctr,aes256-ctr,aes256-cbc,aes128-cbc"
#define SSH_MACS	"hmac-sha2-256,hmac-sha2-512,hmac-sha1"

static int	ssh_initialised;

static void
ssh_global_init(void)
{
	if (!ssh_initialised) {
		if (libssh2_init(0) != 0)
			fatalx("libssh2_init failed");
		ssh_initialised = 1;
	}
}

/* No key configured and no agent: the key OpenSSH would try first. */
static char *
ssh_default_key(void)
{
	static const char *const names[] = { "id_ed25519", "id_ecdsa",
	    "id_rsa", NULL };
	const char	*home = getenv("HOME");
	char		*p;
	int		 i;

	if (home == NULL)
		return (NULL);
	for (i = 0; names[i] != NULL; i++) {
		p = xprintf("%s/.ssh/%s", home, names[i]);
		if (access(p, R_OK) == 0)
			return (p);
		free(p);
	}
	return (NULL);
}

int
ssh_target_init(struct ssh_target *t, const struct fleet_config *conf,
    const char *state_dir, const char *provider,
    const struct st_instance *in, char **cause)
{
	const struct fleet_driver	*drv = driver_find(provider);
	const struct provider_conf	*pc = config_provider(conf, provider);
	const char			*user = NULL;

	memset(t, 0, sizeof *t);
	if (in->ssh_host == NULL || in->ssh_port <= 0) {
		*cause = xprintf("%s has no ssh endpoint (yet)",
		    in->label != NULL ? in->label : "the instance");
		return (-1);
	}
	if (pc != NULL && pc->ssh_user != NULL)
		user = pc->ssh_user;
	else if (drv != NULL && drv->ssh_user != NULL)
		user = drv->ssh_user;
	if (user == NULL) {
		*cause = xprintf("provider %s has no ssh user; set "
		    "providers.%s.ssh_user", provider, provider);
		return (-1);
	}
	t->host = xstrdup(in->ssh_host);
	t->port = in->ssh_port;
	t->user = xstrdup(user);
	/* config.c has expanded ~/ in both paths. */
	if (conf->ssh.key != NULL)
		t->key = xstrdup(conf->ssh.key);
	else if (getenv("SSH_AUTH_SOCK") == NULL)
		t->key = ssh_default_key();
	t->known_hosts = conf->ssh.known_hosts != NULL ?
	    xstrdup(conf->ssh.known_hosts) :
	    xprintf("%s/known_hosts", state_dir);
	t->timeout_ms = (conf->ssh.connect_timeout > 0 ?
	    conf->ssh.connect_timeout : 10) * 1000;
	t->keepalive = conf->ssh.keepalive > 0 ? conf->ssh.keepalive : 15;
	return (0);
}

void
ssh_target_clear(struct ssh_target *t)
{
	free(t->host);
	free(t->user);
	free(t->key);
	free(t->known_hosts);
	memset(t, 0, sizeof *t);
}

char *
ssh_session_error(LIBSSH2_SESSION *s)
{
	char	*msg = NULL;
	int	 rc;

	rc = libssh2_session_last_error(s, &msg, NULL, 0);
	if (msg == NULL || *msg == '\0')
		return (xprintf("libssh2 error %d", rc));
	return (xstrdup(msg));
}

/*
 * A non-blocking socket with a connect under way (or done) and a fresh
 * libssh2 session on it. The caller waits for writability, then runs the
 * handshake.
 */
int
ssh_sess_socket(struct ssh_sess *ss, const struct ssh_target *t,
    char **cause)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 port[16];
	int		 fd = -1, rc, one = 1;

	ssh_global_init();
	memset(ss, 0, sizeof *ss);
	ss->fd = -1;
	ss->where = xprintf("%s@%s:%d", t->user, t->host, t->port);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof port, "%d", t->port);
	if ((rc = getaddrinfo(t->host, port, &hints, &res)) != 0) {
		*cause = xprintf("ssh %s: %s", ss->where, gai_strerror(rc));
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS)
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1) {
		*cause = xprintf("ssh %s: connect: %s", ss->where,
		    strerror(errno));
		freeaddrinfo(res);
		return (-1);
	}
	freeaddrinfo(res);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	ss->fd = fd;
	if ((ss->s = libssh2_session_init()) == NULL)
		fatalx("libssh2_session_init failed");
	libssh2_session_set_blocking(ss->s, 0);
	/*
	 * Tunnels carry bulk data: prefer the cheapest strong cipher and
	 * MAC (AES-128 runs on AES-NI; make bench measured it against the
	 * libssh2 default order), falling back to what the server offers.
	 */
	(void)libssh2_session_method_pref(ss->s, LIBSSH2_METHOD_CRYPT_CS,
	    SSH_CIPHERS);
	(void)libssh2_session_method_pref(ss->s, LIBSSH2_METHOD_CRYPT_SC,
	    SSH_CIPHERS);
	(void)libssh2_session_method_pref(ss->s, LIBSSH2_METHOD_MAC_CS,
	    SSH_MACS);
	(void)libssh2_session_method_pref(ss->s, LIBSSH2_METHOD_MAC_SC,
	    SSH_MACS);
	return (0);
}

static int
ssh_keybit(int type)
{
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA:
		return (LIBSSH2_KNOWNHOST_KEY_SSHRSA);
	case LIBSSH2_HOSTKEY_TYPE_DSS:
		return (LIBSSH2_KNOWNHOST_KEY_SSHDSS);
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		return (LIBSSH2_KNOWNHOST_KEY_ECDSA_256);
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		return (LIBSSH2_KNOWNHOST_KEY_ECDSA_384);
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		return (LIBSSH2_KNOWNHOST_KEY_ECDSA_521);
	case LIBSSH2_HOSTKEY_TYPE_ED25519:
		return (LIBSSH2_KNOWNHOST_KEY_ED25519);
	}
	return (-1);
}

/* SHA256:base64 like OpenSSH prints it (no padding). */
static char *
ssh_fingerprint(LIBSSH2_SESSION *s)
{
	const char	*h;
	unsigned char	 b64[64];
	int		 n;

	h = libssh2_hostkey_hash(s, LIBSSH2_HOSTKEY_HASH_SHA256);
	if (h == NULL)
		return (xstrdup("SHA256:?"));
	n = EVP_EncodeBlock(b64, (const unsigned char *)h, 32);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	return (xprintf("SHA256:%.*s", n, b64));
}

/*
 * Compare the server's key with known_hosts: a match passes, an unknown
 * host is recorded (first use), a different key is refused.
 */
int
ssh_check_hostkey(struct ssh_sess *ss, const struct ssh_target *t,
    char **cause)
{
	LIBSSH2_KNOWNHOSTS		*kh;
	struct libssh2_knownhost	*found = NULL;
	const char			*key;
	char				*fp, *hostname;
	size_t				 len;
	int				 type, bit, rc, mask, ret = -1, fd;

	if ((key = libssh2_session_hostkey(ss->s, &len, &type)) == NULL) {
		*cause = xprintf("ssh %s: no host key", ss->where);
		return (-1);
	}
	if ((bit = ssh_keybit(type)) == -1) {
		*cause = xprintf("ssh %s: unknown host key type %d", ss->where,
		    type);
		return (-1);
	}
	if ((kh = libssh2_knownhost_init(ss->s)) == NULL)
		fatalx("libssh2_knownhost_init failed");
	if (access(t->known_hosts, F_OK) == 0 &&
	    libssh2_knownhost_readfile(kh, t->known_hosts,
	    LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		*cause = xprintf("ssh %s: cannot read %s", ss->where,
		    t->known_hosts);
		goto out;
	}
	mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
	    bit;
	rc = libssh2_knownhost_checkp(kh, t->host, t->port, key, len, mask,
	    &found);
	fp = ssh_fingerprint(ss->s);
	switch (rc) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		ret = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		*cause = xprintf("ssh %s: the host key has CHANGED (now %s); "
		    "refusing to connect. If the instance was re-created, "
		    "delete the line for [%s]:%d in %s", ss->where, fp,
		    t->host, t->port, t->known_hosts);
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		hostname = t->port == 22 ? xstrdup(t->host) :
		    xprintf("[%s]:%d", t->host, t->port);
		if (libssh2_knownhost_addc(kh, hostname, NULL, key, len,
		    "fleet", 5, mask, NULL) != 0) {
			*cause = xprintf("ssh %s: cannot record host key",
			    ss->where);
			free(hostname);
			break;
		}
		free(hostname);
		/* 0600 from the start: the file names where we log in. */
		if ((fd = open(t->known_hosts, O_WRONLY | O_CREAT | O_CLOEXEC,
		    0600)) != -1)
			close(fd);
		if (libssh2_knownhost_writefile(kh, t->known_hosts,
		    LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
			*cause = xprintf("ssh %s: cannot write %s", ss->where,
			    t->known_hosts);
			break;
		}
		log_info("ssh %s: new host key %s recorded in %s", ss->where,
		    fp, t->known_hosts);
		ret = 0;
		break;
	default:
		*cause = xprintf("ssh %s: host key check failed", ss->where);
		break;
	}
	free(fp);
out:
	libssh2_knownhost_free(kh);
	return (ret);
}

/* Wait for what libssh2 is blocked on, until deadline (monotonic ms). */
static int
ssh_wait(struct ssh_sess *ss, int64_t deadline)
{
	struct pollfd	 pfd;
	int		 dirs, left;

	left = (int)(deadline - now_mono_ms());
	if (left <= 0)
		return (-1);
	dirs = libssh2_session_block_directions(ss->s);
	pfd.fd = ss->fd;
	pfd.events = 0;
	if (dirs & LIBSSH2_SESSION_BLOCK_INBOUND)
		pfd.events |= POLLIN;
	if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pfd.events |= POLLOUT;
	if (pfd.events == 0)
		pfd.events = POLLIN;
	if (poll(&pfd, 1, left) == -1 && errno != EINTR)
		return (-1);
	return (0);
}

#define SSH_RETRY(ss, deadline, rc, call) do {				\
	while (((rc) = (call)) == LIBSSH2_ERROR_EAGAIN) {		\
		if (ssh_wait((ss), (deadline)) == -1) {			\
			(rc) = SSH_TIMEOUT;				\
			break;						\
		}							\
	}								\
} while (0)

static char *
ssh_step_error(struct ssh_sess *ss, const char *what, int rc)
{
	char	*e, *msg;

	if (rc == SSH_TIMEOUT)
		return (xprintf("ssh %s: %s: timed out", ss->where, what));
	e = ssh_session_error(ss->s);
	msg = xprintf("ssh %s: %s: %s", ss->where, what, e);
	free(e);
	return (msg);
}

static int
ssh_auth_agent(struct ssh_sess *ss, const struct ssh_target *t,
    int64_t deadline, char **cause)
{
	LIBSSH2_AGENT			*agent;
	struct libssh2_agent_publickey	*id = NULL, *prev = NULL;
	int				 rc, ret = -1;

	if ((agent = libssh2_agent_init(ss->s)) == NULL)
		fatalx("libssh2_agent_init failed");
	if (libssh2_agent_connect(agent) != 0 ||
	    libssh2_agent_list_identities(agent) != 0) {
		*cause = xprintf("ssh %s: no key configured (ssh.key) and "
		    "ssh-agent did not answer", ss->where);
		goto out;
	}
	for (;;) {
		if (libssh2_agent_get_identity(agent, &id, prev) != 0)
			break;
		SSH_RETRY(ss, deadline, rc,
		    libssh2_agent_userauth(agent, t->user, id));
		if (rc == 0) {
			ret = 0;
			goto out;
		}
		if (rc == SSH_TIMEOUT)
			break;
		prev = id;
	}
	*cause = xprintf("ssh %s: ssh-agent has no key the server accepts",
	    ss->where);
out:
	libssh2_agent_disconnect(agent);
	libssh2_agent_free(agent);
	return (ret);
}

static int
ssh_auth(struct ssh_sess *ss, const struct ssh_target *t, int64_t deadline,
    char **cause)
{
	int	 rc;

	if (t->key == NULL)
		return (ssh_auth_agent(ss, t, deadline, cause));
	SSH_RETRY(ss, deadline, rc, libssh2_userauth_publickey_fromfile_ex(
	    ss->s, t->user, (unsigned int)strlen(t->user), NULL, t->key,
	    NULL));
	if (rc != 0) {
		*cause = ssh_step_error(ss, "login with the key", rc);
		return (-1);
	}
	return (0);
}

struct ssh_sess *
ssh_open(const struct ssh_target *t, char **cause)
{
	struct ssh_sess	*ss = xcalloc(1, sizeof *ss);
	struct pollfd	 pfd;
	int64_t		 deadline = now_mono_ms() + t->timeout_ms;
	socklen_t	 len = sizeof(int);
	int		 rc, err = 0;

	if (ssh_sess_socket(ss, t, cause) == -1)
		goto fail;
	pfd.fd = ss->fd;
	pfd.events = POLLOUT;
	rc = poll(&pfd, 1, (int)t->timeout_ms);
	if (rc == 0) {
		*cause = xprintf("ssh %s: connect: timed out", ss->where);
		goto fail;
	}
	if (rc == -1 || getsockopt(ss->fd, SOL_SOCKET, SO_ERROR, &err,
	    &len) == -1 || err != 0) {
		*cause = xprintf("ssh %s: connect: %s", ss->where,
		    strerror(err != 0 ? err : errno));
		goto fail;
	}
	SSH_RETRY(ss, deadline, rc, libssh2_session_handshake(ss->s, ss->fd));
	if (rc != 0) {
		*cause = ssh_step_error(ss, "handshake", rc);
		goto fail;
	}
	if (ssh_check_hostkey(ss, t, cause) == -1)
		goto fail;
	if (ssh_auth(ss, t, deadline, cause) == -1)
		goto fail;
	return (ss);
fail:
	ssh_close(ss);
	return (NULL);
}

struct ssh_sess *
ssh_open_instance(const struct fleet_config *conf, const char *state_dir,
    const struct st_instance *in, char **cause)
{
	struct ssh_target	 t;
	struct ssh_sess		*ss;

	if (ssh_target_init(&t, conf, state_dir, in->provider, in,
	    cause) == -1)
		return (NULL);
	ss = ssh_open(&t, cause);
	ssh_target_clear(&t);
	return (ss);
}

void
ssh_close(struct ssh_sess *ss)
{
	if (ss == NULL)
		return;
	if (ss->s != NULL) {
		/*
		 * Say goodbye (best effort, never waits), then free on a
		 * shut-down socket in blocking mode: libssh2 frees every
		 * channel still open without waiting on the peer.
		 */
		(void)libssh2_session_disconnect(ss->s, "bye");
		if (ss->fd != -1)
			shutdown(ss->fd, SHUT_RDWR);
		libssh2_session_set_blocking(ss->s, 1);
		libssh2_session_set_timeout(ss->s, 500);
		libssh2_session_free(ss->s);
	}
	if (ss->fd != -1)
		close(ss->fd);
	free(ss->where);
	free(ss);
}

static LIBSSH2_CHANNEL *
ssh_channel_exec(struct ssh_sess *ss, const char *cmd, int pty,
    int64_t deadline, char **cause)
{
	LIBSSH2_CHANNEL	*ch;
	struct winsize	 ws;
	const char	*term;
	int		 rc;

	for (;;) {
		ch = libssh2_channel_open_session(ss->s);
		if (ch != NULL)
			break;
		if (libssh2_session_last_errno(ss->s) != LIBSSH2_ERROR_EAGAIN ||
		    ssh_wait(ss, deadline) == -1) {
			*cause = ssh_step_error(ss, "open a channel",
			    libssh2_session_last_errno(ss->s) ==
			    LIBSSH2_ERROR_EAGAIN ? SSH_TIMEOUT : -1);
			return (NULL);
		}
	}
	if (pty) {
		if ((term = getenv("TERM")) == NULL)
			term = "xterm";
		memset(&ws, 0, sizeof ws);
		if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == -1 ||
		    ws.ws_col == 0) {
			ws.ws_col = 80;
			ws.ws_row = 24;
		}
		SSH_RETRY(ss, deadline, rc, libssh2_channel_request_pty_ex(ch,
		    term, (unsigned int)strlen(term), NULL, 0, ws.ws_col,
		    ws.ws_row, 0, 0));
		if (rc != 0) {
			*cause = ssh_step_error(ss, "request a pty", rc);
			goto fail;
		}
	}
	if (cmd != NULL)
		SSH_RETRY(ss, deadline, rc, libssh2_channel_exec(ch, cmd));
	else
		SSH_RETRY(ss, deadline, rc, libssh2_channel_shell(ch));
	if (rc != 0) {
		*cause = ssh_step_error(ss, cmd != NULL ? "exec" : "shell", rc);
		goto fail;
	}
	return (ch);
fail:
	libssh2_channel_free(ch);
	return (NULL);
}

/* Close and read the exit status; bounded by deadline. */
static int
ssh_channel_finish(struct ssh_sess *ss, LIBSSH2_CHANNEL *ch,
    int64_t deadline)
{
	int	 rc, status;

	SSH_RETRY(ss, deadline, rc, libssh2_channel_close(ch));
	if (rc == 0)
		SSH_RETRY(ss, deadline, rc, libssh2_channel_wait_closed(ch));
	status = libssh2_channel_get_exit_status(ch);
	(void)libssh2_channel_free(ch);
	return (status);
}

int
ssh_run(struct ssh_sess *ss, const char *cmd, int64_t timeout_ms,
    char **out, size_t max, int *status, char **cause)
{
	LIBSSH2_CHANNEL	*ch;
	char		 buf[SSH_READ_CHUNK];
	char		*acc = NULL;
	size_t		 len = 0;
	ssize_t		 n;
	int64_t		 deadline = now_mono_ms() + timeout_ms;

	if ((ch = ssh_channel_exec(ss, cmd, 0, deadline, cause)) == NULL)
		return (-1);
	for (;;) {
		n = libssh2_channel_read(ch, buf, sizeof buf);
		if (n > 0) {
			if (out != NULL && len < max) {
				size_t	 take = (size_t)n > max - len ?
				    max - len : (size_t)n;
				acc = xreallocarray(acc, len + take + 1, 1);
				memcpy(acc + len, buf, take);
				len += take;
				acc[len] = '\0';
			}
			continue;
		}
		/* Drain stderr too, or a chatty command stalls the window. */
		while (libssh2_channel_read_stderr(ch, buf, sizeof buf) > 0)
			;
		if (n == 0 && libssh2_channel_eof(ch))
			break;
		if (n == 0 || n == LIBSSH2_ERROR_EAGAIN) {
			if (ssh_wait(ss, deadline) == -1) {
				*cause = xprintf("ssh %s: %s: timed out after "
				    "%lld ms", ss->where, cmd,
				    (long long)timeout_ms);
				goto fail;
			}
			continue;
		}
		*cause = ssh_step_error(ss, "read", (int)n);
		goto fail;
	}
	*status = ssh_channel_finish(ss, ch, deadline);
	if (out != NULL)
		*out = acc != NULL ? acc : xstrdup("");
	else
		free(acc);
	return (0);
fail:
	(void)libssh2_channel_free(ch);
	free(acc);
	return (-1);
}

static volatile sig_atomic_t	ssh_winch;

static void
ssh_winch_handler(int sig __unused)
{
	ssh_winch = 1;
}

/* Write all of buf to fd (a terminal or pipe; blocking is fine here). */
static int
ssh_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

int
ssh_attach(struct ssh_sess *ss, const char *cmd, int pty, char **cause)
{
	LIBSSH2_CHANNEL		*ch;
	struct termios		 saved, raw;
	struct sigaction	 sa, old_sa;
	struct pollfd		 pfd[2];
	struct winsize		 ws;
	char			 buf[SSH_READ_CHUNK], inbuf[SSH_READ_CHUNK];
	size_t			 inlen = 0, inoff = 0;
	ssize_t			 n, e;
	int			 status = -1, in_open = 1, raw_on = 0, dirs, rc;
	int			 progress, eof_sent = 0;

	pty = pty && isatty(STDIN_FILENO);
	if ((ch = ssh_channel_exec(ss, cmd, pty,
	    now_mono_ms() + 30000, cause)) == NULL)
		return (-1);
	if (pty && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
		raw_on = 1;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = ssh_winch_handler;
		sigaction(SIGWINCH, &sa, &old_sa);
	}
	for (;;) {
		progress = 0;
		if (ssh_winch && raw_on) {
			ssh_winch = 0;
			if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
				(void)libssh2_channel_request_pty_size_ex(ch,
				    ws.ws_col, ws.ws_row, 0, 0);
		}
		while ((n = libssh2_channel_read(ch, buf, sizeof buf)) > 0) {
			if (ssh_write_all(STDOUT_FILENO, buf, (size_t)n) == -1)
				goto done;
			progress = 1;
		}
		while ((e = libssh2_channel_read_stderr(ch, buf,
		    sizeof buf)) > 0) {
			if (ssh_write_all(STDERR_FILENO, buf, (size_t)e) == -1)
				goto done;
			progress = 1;
		}
		if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
			*cause = ssh_step_error(ss, "read", (int)n);
			goto fail;
		}
		if (libssh2_channel_eof(ch))
			break;
		if (inoff < inlen) {
			rc = (int)libssh2_channel_write(ch, inbuf + inoff,
			    inlen - inoff);
			if (rc > 0) {
				inoff += (size_t)rc;
				progress = 1;
			} else if (rc != LIBSSH2_ERROR_EAGAIN) {
				in_open = 0;
				inoff = inlen = 0;
			}
		} else if (!in_open && !eof_sent) {
			rc = libssh2_channel_send_eof(ch);
			if (rc != LIBSSH2_ERROR_EAGAIN)
				eof_sent = 1;
		}
		if (progress)
			continue;
		pfd[0].fd = ss->fd;
		dirs = libssh2_session_block_directions(ss->s);
		pfd[0].events = POLLIN;
		if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			pfd[0].events |= POLLOUT;
		pfd[1].fd = in_open && inoff >= inlen ? STDIN_FILENO : -1;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, 1000) == -1 && errno != EINTR)
			break;
		if (pfd[1].fd != -1 && (pfd[1].revents & (POLLIN | POLLHUP))) {
			n = read(STDIN_FILENO, inbuf, sizeof inbuf);
			if (n > 0) {
				inlen = (size_t)n;
				inoff = 0;
			} else if (n == 0 || errno != EINTR) {
				in_open = 0;
				inlen = inoff = 0;
			}
		}
	}
done:
	status = ssh_channel_finish(ss, ch, now_mono_ms() + 5000);
	ch = NULL;
fail:
	if (ch != NULL)
		(void)libssh2_channel_free(ch);
	if (raw_on) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
		sigaction(SIGWINCH, &old_sa, NULL);
	}
	return (status);
}

int
ssh_parse_gpu(const char *out, size_t len)
{
	const char	*p = out, *end = out + len, *nl;
	char		 line[128];
	long		 util, mem, best = -1;
	size_t		 n;
	int		 lines = 0;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n > 0 && n < sizeof line) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (sscanf(line, " %ld , %ld", &util, &mem) != 2 ||
			    util < 0 || util > 100)
				return (-1);
			if (util > best)
				best = util;
			lines++;
		} else if (n >= sizeof line)
			return (-1);
		p = nl + 1;
	}
	return (lines > 0 ? (int)best : -1);
}

/*
 * A tunnelled upstream, SCHEME+ssh://HOST:PORT: HOST:PORT as seen from the
 * instance, reached through its sshd. 1 and the parts (caller frees) if
 * upstream is one, 0 if it is a plain URL, -1 if malformed.
 */
int
ssh_tunnel_parse(const char *upstream, char **scheme, char **host,
    int *port)
{
	const char	*plus, *hp, *colon;
	char		*end;
	long		 n;

	if ((plus = strstr(upstream, "+ssh://")) == NULL)
		return (0);
	hp = plus + 7;
	if ((colon = strrchr(hp, ':')) == NULL || colon == hp ||
	    plus == upstream)
		return (-1);
	n = strtol(colon + 1, &end, 10);
	if (*end != '\0' || n < 1 || n > 65535)
		return (-1);
	*scheme = xstrndup(upstream, (size_t)(plus - upstream));
	*host = xstrndup(hp, (size_t)(colon - hp));
	*port = (int)n;
	return (1);
}

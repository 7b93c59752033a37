/* util.c: clocks, ports, paths and JSON output shared by commands. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet.h"

/*
 * Tests only: FLEET_TEST_CLOCK_FILE names a file holding a number of
 * seconds added to every clock read, wall and boot alike, as a suspend of
 * that length would. It is read again whenever its inode, size or mtime
 * change (one stat per read, and none without the variable), so a test can
 * put a running daemon through a sleep. Unreadable: the last value stays.
 */
static int64_t
clock_skew(void)
{
	static const char	*path;
	static int		 init;
	static struct stat	 seen;
	static int64_t		 skew;
	struct stat		 sb;
	char			 buf[32], *end;
	long long		 v;
	ssize_t			 n;
	int			 fd;

	if (!init) {
		init = 1;
		if ((path = getenv("FLEET_TEST_CLOCK_FILE")) != NULL &&
		    *path == '\0')
			path = NULL;
	}
	if (path == NULL || stat(path, &sb) != 0)
		return (skew);
	if (sb.st_ino == seen.st_ino && sb.st_dev == seen.st_dev &&
	    sb.st_size == seen.st_size &&
	    sb.st_mtim.tv_sec == seen.st_mtim.tv_sec &&
	    sb.st_mtim.tv_nsec == seen.st_mtim.tv_nsec)
		return (skew);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (skew);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (skew);
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || end == buf)
		return (skew);
	seen = sb;
	skew = (int64_t)v;
	return (skew);
}

int64_t
now_wall(void)
{
	return ((int64_t)time(NULL) + clock_skew());
}

int64_t
now_wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    clock_skew() * 1000);
}

/*
 * Milliseconds on a clock that never jumps but keeps counting while the
 * machine is suspended (CLOCK_BOOTTIME): idle time spent asleep is idle.
 */
int64_t
now_mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
	    clock_skew() * 1000);
}

/*
 * Bind a TCP socket to addr:port; returns the fd or -1. SO_REUSEADDR as
 * the daemon's listeners use it: connections in TIME_WAIT from a daemon
 * that just stopped do not make the port "in use", a listener still does.
 */
static int
port_bind(const char *addr, int port)
{
	struct sockaddr_in	sin;
	int			fd, on = 1;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return (-1);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Is addr:port free to listen on right now? */
int
port_is_free(const char *addr, int port)
{
	int	fd;

	if ((fd = port_bind(addr, port)) == -1)
		return (0);
	close(fd);
	return (1);
}

/*
 * A free port on addr for a child to listen on. Chosen below the kernel's
 * ephemeral range (32768+), where outgoing connections take their source
 * ports, so the port is not grabbed between this check and the child's
 * bind. Falls back to a kernel-chosen port; -1 on failure.
 */
int
port_pick_free(const char *addr)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;
	int			fd, i, port = -1;
	static unsigned int	calls;
	unsigned int		seed;

	/* Two calls in one millisecond must not pick the same port. */
	seed = (unsigned int)(now_mono_ms() ^ getpid()) + ++calls * 2654435761u;

	for (i = 0; i < 64; i++) {
		port = 20000 + (int)(rand_r(&seed) % 12000);
		if (port_is_free(addr, port))
			return (port);
	}
	port = -1;
	if ((fd = port_bind(addr, 0)) == -1)
		return (-1);
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}

/* Absolute path of the running binary (for child jobs and {fleet}). */
char *
self_exe(void)
{
	char	buf[PATH_MAX];
	ssize_t	n;

	if ((n = readlink("/proc/self/exe", buf, sizeof buf - 1)) <= 0)
		return (xstrdup("fleet"));
	buf[n] = '\0';
	return (xstrdup(buf));
}

/* Print s as a JSON string literal (with quotes); NULL prints null. */
void
json_print_string(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = *s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* RFC 3339 UTC time, caller frees. */
char *
format_time(int64_t epoch)
{
	char		buf[32];
	time_t		t = (time_t)epoch;
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return (xstrdup(buf));
}

int
is_tty(FILE *f)
{
	return (isatty(fileno(f)));
}

/* mkdir -p with the given mode for every component created. */
int
mkdir_p(const char *path, int mode)
{
	char	*p, *s;
	int	 rc = 0;

	s = xstrdup(path);
	for (p = s + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(s, mode) == -1 && errno != EEXIST) {
			rc = -1;
			goto out;
		}
		*p = '/';
	}
	if (mkdir(s, mode) == -1 && errno != EEXIST)
		rc = -1;
out:
	free(s);
	return (rc);
}

/* $FLEET_STATE_DIR, else $XDG_STATE_HOME/fleet, else ~/.local/state/fleet. */
char *
state_dir_default(void)
{
	const char	*v;

	if ((v = getenv("FLEET_STATE_DIR")) != NULL && *v != '\0')
		return (xstrdup(v));
	if ((v = getenv("XDG_STATE_HOME")) != NULL && *v != '\0')
		return (xprintf("%s/fleet", v));
	if ((v = getenv("HOME")) == NULL || *v == '\0')
		v = "/tmp";
	return (xprintf("%s/.local/state/fleet", v));
}

/* Optimal string alignment distance: a swapped pair counts as one edit. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b), i, j, best, *d;
	size_t	 w = lb + 1;

	if (la > 64 || lb > 64)
		return (SIZE_MAX);
	d = xcalloc((la + 1) * w, sizeof *d);
	for (i = 0; i <= la; i++)
		d[i * w] = i;
	for (j = 0; j <= lb; j++)
		d[j] = j;
	for (i = 1; i <= la; i++) {
		for (j = 1; j <= lb; j++) {
			best = d[(i - 1) * w + j - 1] + (a[i - 1] != b[j - 1]);
			if (d[(i - 1) * w + j] + 1 < best)
				best = d[(i - 1) * w + j] + 1;
			if (d[i * w + j - 1] + 1 < best)
				best = d[i * w + j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] &&
			    d[(i - 2) * w + j - 2] + 1 < best)
				best = d[(i - 2) * w + j - 2] + 1;
			d[i * w + j] = best;
		}
	}
	best = d[la * w + lb];
	free(d);
	return (best);
}

/*
 * A candidate that starts with the word ("api_key" for "api_key_env")
 * counts as one edit: people abbreviate more often than they misspell.
 */
const char *
suggest_nearest(const char *word, const char *const *cands, size_t ncands)
{
	const char	*found = NULL;
	size_t		 i, d, best, limit, len = strlen(word);

	limit = (len + 2) / 3;
	if (limit < 1)
		limit = 1;
	best = limit + 1;
	for (i = 0; i < ncands; i++) {
		if (len >= 3 && strncmp(cands[i], word, len) == 0)
			d = 1;
		else
			d = edit_distance(word, cands[i]);
		if (d < best) {
			best = d;
			found = cands[i];
		}
	}
	return (found);
}

/* deadman.c: the dead-man switch: heartbeat file, interval and watcher. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "deadman.h"

/*
 * The watcher is one line of POSIX sh (no newline, so it survives an
 * environment variable, RunPod's dockerArgs, Vast's onstart and a
 * systemd-run argument alike). It samples the heartbeat file's mtime
 * every S seconds and counts its own sleeps while the mtime stays the
 * same: elapsed time never comes from the wall clock, so a clock step at
 * boot (NTP) cannot fire it early. When the count reaches the timeout it
 * calls act(), the provider's way to end this instance, and retries every
 * S seconds until act() succeeds. Everything it does goes to a log next
 * to the heartbeat; the key is only ever handed to curl on its standard
 * input (or to wget in a 0600 file), never in an argument or the log.
 * Tools it needs: sleep, date, stat -c or date -r, sed, mktemp, and curl
 * or GNU wget for the providers it calls.
 *
 * Where its files live: never at a name another user can take first. A
 * fixed /tmp name let anyone plant a symlink there (the watcher, root,
 * then appended to the file it pointed at) or keep touching the
 * heartbeat (keeping a workload alive after the daemon died). On an
 * instance the watcher makes a private directory, mktemp -d
 * /tmp/fleet-deadman.XXXXXXXXXX (0700; 0711 with the heartbeat chowned
 * to the SSH user when that is another user, as on Paperspace), and
 * creates the heartbeat in it; the daemon's command touches only a
 * heartbeat there that is its own and no symlink. Locally both live in
 * STATEDIR/deadman (0700, checked), where the daemon opens the heartbeat
 * with O_NOFOLLOW and O_EXCL, or O_NOFOLLOW and an owner check.
 */

#define DEADMAN_STEP_MAX	30	/* seconds between samples, at most */
#define DEADMAN_URL_MAX		512

/* Helpers for the providers that call their API. */
static const char deadman_http[] =
    "penv() { tr '\\0' '\\n' </proc/1/environ 2>/dev/null | "
    "sed -n \"s/^$1=//p\" | head -n 1; }; "
    "said() { tr -d '\\n' <\"$R\" 2>/dev/null | cut -c1-200; }; "
    "http() { if command -v curl >/dev/null 2>&1; then "
    "printf 'header = \"Authorization: Bearer %s\"\\n' "
    "\"$(printf %s \"$K\" | sed 's/[\\\\\"]/\\\\&/g')\" | "
    "curl -sS -m 30 -o \"$R\" -w '%{http_code}' -K - -X \"$1\" "
    "-H 'Content-Type: application/json' --data-binary \"$3\" \"$2\" "
    "2>>\"$G\"; "
    "elif command -v wget >/dev/null 2>&1; then "
    "(umask 077; printf 'header = Authorization: Bearer %s\\n' \"$K\" "
    ">\"$G.wgetrc\"); "
    "WGETRC=$G.wgetrc wget -S -T 30 -O \"$R\" --content-on-error "
    "--method=\"$1\" --header='Content-Type: application/json' "
    "--body-data=\"$3\" \"$2\" 2>\"$G.wget\"; rm -f \"$G.wgetrc\"; "
    "sed -n 's/^ *HTTP\\/[0-9.]* \\([0-9][0-9][0-9]\\).*/\\1/p' "
    "\"$G.wget\" | tail -n 1; "
    "else log \"neither curl nor wget: cannot call the API\"; echo 000; "
    "fi; }; ";

/*
 * RunPod: podTerminate on its own pod with the pod-scoped key RunPod puts
 * in every pod (runpod.md section 5); whether that key may terminate is
 * unconfirmed, so a refusal falls back to podStop (RunPod's docs show a
 * pod stopping itself), which ends GPU billing but keeps the volume.
 */
static const char deadman_runpod[] =
    "ID=${RUNPOD_POD_ID:-$(penv RUNPOD_POD_ID)}; "
    "K=${RUNPOD_API_KEY:-$(penv RUNPOD_API_KEY)}; "
    "gql() { c=$(http POST \"$U\" \"{\\\"query\\\":\\\"$2\\\","
    "\\\"variables\\\":{\\\"podId\\\":\\\"$ID\\\"}}\"); "
    "log \"$1 $ID: HTTP $c $(said)\"; "
    "[ \"$c\" = 200 ] && ! grep -q '\"errors\"' \"$R\"; }; "
    "act() { case $ID in ''|*[!A-Za-z0-9]*) "
    "log \"RUNPOD_POD_ID is missing or odd\"; return 1;; esac; "
    "if [ -z \"$K\" ]; then log \"RUNPOD_API_KEY is missing\"; return 1; "
    "fi; "
    "gql podTerminate 'mutation terminatePod($podId: String!) "
    "{ podTerminate(input: {podId: $podId}) }' && return 0; "
    "log \"podTerminate failed: stopping the pod instead (its volume "
    "still bills)\"; "
    "gql podStop 'mutation stopPod($podId: String!) "
    "{ podStop(input: {podId: $podId}) { id desiredStatus } }'; }; ";

/*
 * Vast: DELETE its own instance with the per-instance key Vast injects
 * (CONTAINER_API_KEY, CONTAINER_ID; third-party code, docs silent on its
 * scope), falling back to a stop, which third-party code shows working.
 */
static const char deadman_vast[] =
    "ID=${CONTAINER_ID:-$(penv CONTAINER_ID)}; "
    "K=${CONTAINER_API_KEY:-$(penv CONTAINER_API_KEY)}; "
    "ok() { [ \"$1\" = 200 ] && grep -q '\"success\": *true' \"$R\"; }; "
    "act() { case $ID in ''|*[!0-9]*) "
    "log \"CONTAINER_ID is missing or odd\"; return 1;; esac; "
    "if [ -z \"$K\" ]; then log \"CONTAINER_API_KEY is missing\"; "
    "return 1; fi; "
    "c=$(http DELETE \"$U/api/v0/instances/$ID/\" '{}'); "
    "log \"destroy $ID: HTTP $c $(said)\"; ok \"$c\" && return 0; "
    "log \"destroy failed: stopping the instance instead (its disk still "
    "bills)\"; "
    "c=$(http PUT \"$U/api/v0/instances/$ID/\" '{\"state\":\"stopped\"}'); "
    "log \"stop $ID: HTTP $c $(said)\"; ok \"$c\"; }; ";

/*
 * Paperspace gives a machine no credential of its own, but a machine that
 * is off bills no compute (paperspace.md section 4); a power-off from
 * inside bringing it to "off" is third-party knowledge, not Paperspace's.
 */
static const char deadman_paperspace[] =
    "act() { log \"powering the machine off (its disk bills until fleet "
    "down deletes it)\"; systemctl poweroff 2>>\"$G\" || "
    "poweroff 2>>\"$G\" || shutdown -h now 2>>\"$G\"; }; ";

/* local: the watcher shares the workload's process group: end it all. */
static const char deadman_local[] =
    "act() { log \"ending the process group of $PPID\"; trap '' TERM; "
    "kill -s TERM 0; n=0; "
    "while [ $n -lt 5 ] && kill -0 $PPID 2>/dev/null; do sleep 1; "
    "n=$((n + 1)); done; kill -s KILL 0; }; ";

static const struct deadman_provider {
	const char	*name;
	const char	*act;		/* NULL: not possible, see why_not */
	const char	*why_not;
	int		 api;		/* calls the provider's API */
	int		 child;		/* lives only as long as its parent */
} deadman_providers[] = {
	{ "runpod", deadman_runpod, NULL, 1, 0 },
	{ "vast", deadman_vast, NULL, 1, 0 },
	{ "paperspace", deadman_paperspace, NULL, 0, 0 },
	{ "local", deadman_local, NULL, 0, 1 },
	{ "lambda", NULL, "Lambda gives an instance no credential of its "
	  "own (only the account's API key can terminate it, and fleet does "
	  "not put that on a machine), and a Lambda instance bills until it "
	  "is terminated, so powering it off from inside would not end the "
	  "bill", 0, 0 },
};

static const struct deadman_provider *
deadman_find(const char *provider)
{
	size_t	 i;

	for (i = 0; provider != NULL && i < nitems(deadman_providers); i++)
		if (strcmp(deadman_providers[i].name, provider) == 0)
			return (&deadman_providers[i]);
	return (NULL);
}

int
deadman_label_ok(const char *label)
{
	size_t	 n;

	if (label == NULL || (n = strlen(label)) == 0 ||
	    n > DEADMAN_LABEL_MAX)
		return (0);
	return (strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") == n);
}

char *
deadman_local_dir(const char *state_dir)
{
	return (xprintf("%s/deadman", state_dir));
}

int
deadman_dir_prepare(const char *dir, char **cause)
{
	struct stat	 sb;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		*cause = xprintf("cannot create %s: %s", dir, strerror(errno));
		return (-1);
	}
	if (lstat(dir, &sb) == -1) {
		*cause = xprintf("%s: %s", dir, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid()) {
		*cause = xprintf("%s is not a directory of this user's (a "
		    "symlink, or someone else's): refusing it", dir);
		return (-1);
	}
	/* Ours, but open to others: close it before anything goes in. */
	if ((sb.st_mode & 077) != 0 && chmod(dir, 0700) == -1) {
		*cause = xprintf("chmod %s: %s", dir, strerror(errno));
		return (-1);
	}
	return (0);
}

char *
deadman_heartbeat_path(const char *dir, const char *label)
{
	if (dir == NULL || !deadman_label_ok(label))
		return (NULL);
	return (xprintf("%s/heartbeat-%s", dir, label));
}

char *
deadman_log_path(const char *dir, const char *label)
{
	if (dir == NULL || !deadman_label_ok(label))
		return (NULL);
	return (xprintf("%s/%s.log", dir, label));
}

/*
 * Open the heartbeat for writing without following a symlink: create it
 * (O_EXCL), or open the one there and check it is a plain file of ours
 * with one link. -1 with errno set (ELOOP for a symlink, EPERM for one
 * that is not ours).
 */
static int
deadman_hb_open(const char *path)
{
	struct stat	 sb;
	int		 fd, flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC |
			    O_NONBLOCK;

	if ((fd = open(path, flags | O_CREAT | O_EXCL, 0600)) != -1)
		return (fd);
	if (errno != EEXIST || (fd = open(path, flags)) == -1)
		return (-1);
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || sb.st_nlink != 1) {
		close(fd);
		errno = EPERM;
		return (-1);
	}
	return (fd);
}

int
deadman_heartbeat_touch(const char *dir, const char *label, char **cause)
{
	char	*path;
	int	 fd;

	if ((path = deadman_heartbeat_path(dir, label)) == NULL) {
		*cause = xprintf("bad label '%s'", label != NULL ? label : "");
		return (-1);
	}
	if (deadman_dir_prepare(dir, cause) != 0) {
		free(path);
		return (-1);
	}
	if ((fd = deadman_hb_open(path)) == -1 || futimens(fd, NULL) == -1) {
		*cause = xprintf("%s: %s", path, errno == ELOOP ?
		    "a symlink: not followed" : errno == EPERM ?
		    "not a plain file of this user's: not touched" :
		    strerror(errno));
		if (fd != -1)
			close(fd);
		free(path);
		return (-1);
	}
	close(fd);
	free(path);
	return (0);
}

/*
 * Over SSH, on the instance: touch the heartbeat in any of the watcher's
 * private directories, only where it is a file of ours and no symlink.
 * The old fixed name is kept for watchers started before it changed.
 */
char *
deadman_heartbeat_command(const char *label)
{
	if (!deadman_label_ok(label))
		return (NULL);
	/* sh -c: the login shell that runs it may not be a POSIX one. */
	return (xprintf("sh -c 'n=0; for f in %s.*/heartbeat-%s "
	    "%s/fleet-heartbeat-%s; do if [ -f \"$f\" ] && [ ! -h \"$f\" ] && "
	    "[ -O \"$f\" ]; then touch -c \"$f\" && n=1; fi; done; "
	    "[ $n = 1 ]'", DEADMAN_PRIVATE, label, DEADMAN_OLD_DIR, label));
}

int64_t
deadman_heartbeat_interval(int64_t deadman_timeout)
{
	if (deadman_timeout <= 0)
		return (0);
	return (deadman_timeout / 4 > 1 ? deadman_timeout / 4 : 1);
}

int
deadman_supported(const char *provider, char **cause)
{
	const struct deadman_provider	*p = deadman_find(provider);

	if (p != NULL && p->act != NULL)
		return (1);
	if (cause != NULL) {
		if (p != NULL)
			*cause = xprintf("no dead-man switch on %s: %s",
			    p->name, p->why_not);
		else
			*cause = xprintf("no dead-man switch on %s: fleet "
			    "does not know how its instances could end "
			    "themselves", provider != NULL ? provider : "?");
	}
	return (0);
}

/*
 * An http(s) URL that can sit in single quotes and needs no escaping:
 * no quote, space, backslash, '$' or backquote. A trailing '/' is cut
 * (Vast's paths are appended to it).
 */
static char *
deadman_url(const char *url, char **cause)
{
	size_t	 n;

	if (url == NULL || (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0)) {
		*cause = xprintf("the API URL '%s' is not http(s)",
		    url != NULL ? url : "");
		return (NULL);
	}
	n = strlen(url);
	if (n > DEADMAN_URL_MAX || strspn(url, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789:/._~-?=&+,@%[]") != n) {
		*cause = xprintf("the API URL '%s' has characters the watcher "
		    "will not quote", url);
		return (NULL);
	}
	while (n > 0 && url[n - 1] == '/')
		n--;
	return (xstrndup(url, n));
}

/* Append piece to *s. */
static void
deadman_add(char **s, const char *piece)
{
	char	*old = *s;

	*s = xprintf("%s%s", old, piece);
	free(old);
}

/* s in single quotes for sh: ' becomes '\''. */
static char *
deadman_sq(const char *s)
{
	char	*out = xstrdup("'"), piece[2] = { 0, 0 };

	for (; *s != '\0'; s++) {
		piece[0] = *s;
		deadman_add(&out, *s == '\'' ? "'\\''" : piece);
	}
	deadman_add(&out, "'");
	return (out);
}

/* A user name that needs no quoting: [a-z_][a-z0-9_-]*, 1-32. */
static int
deadman_user_ok(const char *u)
{
	size_t	 n;

	if (u == NULL || (n = strlen(u)) == 0 || n > 32 ||
	    strchr("abcdefghijklmnopqrstuvwxyz_", u[0]) == NULL)
		return (0);
	return (strspn(u, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n);
}

/*
 * Where the files go. dir: a private directory of this machine (local);
 * NULL on an instance: a fresh mktemp -d, the heartbeat made in it at
 * once, and handed to hb_user when the SSH user is another one.
 */
static char *
deadman_where(const char *label, const char *dir, const char *hb_user)
{
	char	*q, *s;

	if (dir != NULL) {
		q = deadman_sq(dir);
		s = xprintf("H=%s/heartbeat-%s; G=%s/%s.log; ", q, label, q,
		    label);
		free(q);
		return (s);
	}
	s = xprintf("W=$(umask 077 && mktemp -d %s.XXXXXXXXXX) || exit 1; "
	    "H=$W/heartbeat-%s; G=$W/%s.log; (umask 077 && : >\"$H\") || "
	    "exit 1; ", DEADMAN_PRIVATE, label, label);
	if (hb_user != NULL) {
		q = xprintf("chmod 711 \"$W\" && chown %s \"$H\" || { "
		    "printf '%%s\\n' \"cannot hand $H to %s: no heartbeat "
		    "will count\" >>\"$G\"; }; ", hb_user, hb_user);
		deadman_add(&s, q);
		free(q);
	}
	return (s);
}

static char *
deadman_build(const char *provider, const char *api_base_url,
    const char *label, int64_t timeout, const char *dir, const char *hb_user,
    char **cause)
{
	const struct deadman_provider	*p;
	char				*url = NULL, *s, *tmp;
	int64_t				 step;

	if (!deadman_supported(provider, cause))
		return (NULL);
	p = deadman_find(provider);
	if (!deadman_label_ok(label)) {
		*cause = xprintf("label '%s' is not 1-%d of [A-Za-z0-9._-]",
		    label != NULL ? label : "", DEADMAN_LABEL_MAX);
		return (NULL);
	}
	if (timeout <= 0) {
		*cause = xstrdup("the dead-man timeout must be above 0");
		return (NULL);
	}
	if (p->child != (dir != NULL)) {
		*cause = xprintf("the %s watcher %s", p->name, p->child ?
		    "runs here and needs its directory" : "runs on the "
		    "instance, in a directory of its own");
		return (NULL);
	}
	if (hb_user != NULL && !deadman_user_ok(hb_user)) {
		*cause = xprintf("ssh user '%s' is not a plain user name",
		    hb_user);
		return (NULL);
	}
	if (p->api && (url = deadman_url(api_base_url, cause)) == NULL)
		return (NULL);
	step = timeout / 4;
	step = step < 1 ? 1 : step > DEADMAN_STEP_MAX ? DEADMAN_STEP_MAX :
	    step;
	s = deadman_where(label, dir, hb_user);
	tmp = xprintf("R=$G.answer; T=%lld; S=%lld; ", (long long)timeout,
	    (long long)step);
	deadman_add(&s, tmp);
	free(tmp);
	deadman_add(&s, "log() { printf '%s %s\\n' "
	    "\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" \"$*\" >>\"$G\"; }; "
	    "mt() { stat -c %y \"$1\" 2>/dev/null || "
	    "date -r \"$1\" 2>/dev/null; }; ");
	if (p->api) {
		tmp = xprintf("U='%s'; ", url);
		deadman_add(&s, tmp);
		free(tmp);
		deadman_add(&s, deadman_http);
	}
	deadman_add(&s, p->act);
	tmp = xprintf("log \"fleet dead-man switch (%s): acting after ${T}s "
	    "without a change to $H\"; ", p->name);
	deadman_add(&s, tmp);
	free(tmp);
	deadman_add(&s, "if [ -z \"$(mt \"$G\")\" ]; then log \"cannot read "
	    "file times (needs stat -c or date -r): not watching\"; exit 1; "
	    "fi; p=$(mt \"$H\"); i=0; while :; do sleep $S; ");
	if (p->child)
		deadman_add(&s, "if ! kill -0 $PPID 2>/dev/null; then "
		    "log \"the workload is gone: not watching\"; exit 0; fi; ");
	deadman_add(&s, "m=$(mt \"$H\"); "
	    "if [ \"$m\" != \"$p\" ]; then p=$m; i=0; continue; fi; "
	    "i=$((i + S)); [ $i -lt $T ] && continue; "
	    "log \"no heartbeat for ${i}s\"; "
	    "if act; then log done; exit 0; fi; "
	    "log \"trying again in ${S}s\"; done");
	free(url);
	return (s);
}

char *
deadman_script(const char *provider, const char *api_base_url,
    const char *label, int64_t timeout, char **cause)
{
	return (deadman_build(provider, api_base_url, label, timeout, NULL,
	    NULL, cause));
}

char *
deadman_script_user(const char *provider, const char *api_base_url,
    const char *label, int64_t timeout, const char *hb_user, char **cause)
{
	return (deadman_build(provider, api_base_url, label, timeout, NULL,
	    hb_user, cause));
}

char *
deadman_script_local(const char *label, int64_t timeout, const char *dir,
    char **cause)
{
	if (dir == NULL || *dir == '\0') {
		*cause = xstrdup("the local watcher needs its directory");
		return (NULL);
	}
	return (deadman_build("local", NULL, label, timeout, dir, NULL,
	    cause));
}

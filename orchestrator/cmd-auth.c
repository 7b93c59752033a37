/* cmd-auth.c: `fleet auth set|ls|rm`: the keys in fleet's credentials file. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "control.h"
#include "creds.h"
#include "driver.h"

static int cmd_auth_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_auth_entry = {
	"auth",
	"set PROVIDER | ls [--json] | rm PROVIDER",
	"store, list or remove provider API keys (never printed)",
	"Keys are looked up in this order: the environment variable\n"
	"(providers.NAME.api_key_env, default e.g. RUNPOD_API_KEY), then\n"
	"fleet's credentials file, $XDG_CONFIG_HOME/fleet/credentials\n"
	"(~/.config/fleet/credentials), then the key file of the provider's\n"
	"own CLI (runpodctl, vastai). The credentials file must be mode 0600:\n"
	"one that group or others can read is refused.\n\n"
	"  set PROVIDER   read the key from stdin (on a terminal, prompt for\n"
	"                 it without echo) and store it, atomically, mode 0600\n"
	"  ls [--json]    each provider and where its key comes from: env VAR,\n"
	"                 credentials file, CLI file PATH, or none; --json: an\n"
	"                 array of {provider, needs_key, source, where, error}\n"
	"  rm PROVIDER    remove the provider's key from the credentials\n"
	"                 file\n\n"
	"set and rm ask a running daemon to look its keys up again. Exit 2 for\n"
	"an unknown provider or bad input, 1 when the file cannot be used.\n",
	cmd_auth_exec,
	0
};

/* Restore echo if the prompt is interrupted. */
static struct termios	auth_saved_tio;
static volatile sig_atomic_t auth_tio_saved;

static void
auth_restore_tty(int sig)
{
	if (auth_tio_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &auth_saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One line from a terminal, without echo. */
static char *
auth_prompt(const char *provider, char **cause)
{
	struct termios	 tio;
	char		*buf = xmalloc(CREDS_KEY_MAX + 2);
	void		(*oint)(int), (*oterm)(int);
	int		 ok;

	if (tcgetattr(STDIN_FILENO, &auth_saved_tio) != 0) {
		*cause = xprintf("cannot read the terminal: %s",
		    strerror(errno));
		free(buf);
		return (NULL);
	}
	tio = auth_saved_tio;
	tio.c_lflag &= ~(ECHO | ECHONL);
	tio.c_lflag |= ICANON;
	oint = signal(SIGINT, auth_restore_tty);
	oterm = signal(SIGTERM, auth_restore_tty);
	auth_tio_saved = 1;
	fprintf(stderr, "API key for %s (not echoed): ", provider);
	fflush(stderr);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
	ok = fgets(buf, CREDS_KEY_MAX + 2, stdin) != NULL;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &auth_saved_tio);
	auth_tio_saved = 0;
	signal(SIGINT, oint);
	signal(SIGTERM, oterm);
	fputc('\n', stderr);
	if (!ok) {
		*cause = xstrdup("no key entered");
		free(buf);
		return (NULL);
	}
	return (buf);
}

/* The key on stdin: one line, surrounding blanks and newline dropped. */
static char *
auth_read_key(const char *provider, char **cause)
{
	char	*buf, *p, *end;
	size_t	 len = 0, cap = CREDS_KEY_MAX + 64;
	ssize_t	 n;

	if (isatty(STDIN_FILENO)) {
		if ((buf = auth_prompt(provider, cause)) == NULL)
			return (NULL);
		len = strlen(buf);
	} else {
		buf = xmalloc(cap + 1);
		while (len < cap &&
		    (n = read(STDIN_FILENO, buf + len, cap - len)) > 0)
			len += (size_t)n;
		buf[len] = '\0';
	}
	for (end = buf + len; end > buf && (end[-1] == '\n' ||
	    end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	for (p = buf; *p == ' ' || *p == '\t'; p++)
		;
	memmove(buf, p, strlen(p) + 1);
	if (strchr(buf, '\n') != NULL) {
		*cause = xstrdup("expected one key on one line");
		freezero_str(buf);
		return (NULL);
	}
	return (buf);
}

/* Unknown or keyless provider: exit 2 with why. */
static const struct fleet_driver *
auth_provider(const char *name)
{
	const struct fleet_driver	*d = driver_find(name);
	char				*why;

	if (d == NULL) {
		why = cmd_unknown_provider(name);
		cmd_usage_error(&cmd_auth_entry, "%s", why);
		free(why);
		return (NULL);
	}
	if (!(d->flags & DRV_NEEDS_KEY)) {
		fprintf(stderr, "fleet auth: %s needs no API key\n", name);
		return (NULL);
	}
	return (d);
}

/* Tell a running daemon to look its keys up again; quiet without one. */
static void
auth_tell_daemon(struct cmd_ctx *ctx)
{
	cJSON	*g = NULL;
	char	*cause = NULL;

	if (cmd_state_dir(ctx) != 0 || !control_alive(ctx->state_dir))
		return;
	if (control_guard(ctx, 1, &g, &cause) != 0) {
		log_warn("the daemon did not reload its keys: %s", cause);
		free(cause);
		return;
	}
	printf("the daemon has looked its keys up again\n");
	control_guard_warn(g, "auth", stderr);
	cJSON_Delete(g);
}

/* Where the key comes from now, when not from the file we just edited. */
static void
auth_note_source(struct cmd_ctx *ctx, const struct fleet_driver *d,
    enum creds_source edited)
{
	struct creds_key	 k;
	char			*cause = NULL, *txt;

	if (creds_lookup(d, ctx->conf, 0, &k, &cause) != 0) {
		free(cause);
		return;
	}
	if (k.source != edited && k.source != CREDS_NONE) {
		txt = creds_source_text(&k);
		printf("note: %s still gets its key from %s, which comes "
		    "first\n", d->name, txt);
		free(txt);
	}
	creds_key_clear(&k);
}

static int
auth_set(struct cmd_ctx *ctx, const char *provider)
{
	const struct fleet_driver	*d;
	char				*key, *path, *cause = NULL;
	int				 rc;

	if ((d = auth_provider(provider)) == NULL)
		return (FLEET_EXIT_USAGE);
	if ((key = auth_read_key(provider, &cause)) == NULL ||
	    !creds_key_valid(key, &cause)) {
		fprintf(stderr, "fleet auth: %s\n", cause);
		free(cause);
		if (key != NULL)
			freezero_str(key);
		return (FLEET_EXIT_USAGE);
	}
	path = creds_path();
	rc = creds_file_set(path, provider, key, &cause);
	freezero_str(key);
	if (rc != 0) {
		fprintf(stderr, "fleet auth: %s\n", cause);
		free(cause);
		free(path);
		return (FLEET_EXIT_FAIL);
	}
	printf("%s: key saved in %s\n", provider, path);
	free(path);
	auth_note_source(ctx, d, CREDS_FILE);
	auth_tell_daemon(ctx);
	return (FLEET_EXIT_OK);
}

static int
auth_rm(struct cmd_ctx *ctx, const char *provider)
{
	const struct fleet_driver	*d;
	char				*path, *cause = NULL;
	int				 removed;

	if ((d = auth_provider(provider)) == NULL)
		return (FLEET_EXIT_USAGE);
	path = creds_path();
	if (creds_file_remove(path, provider, &removed, &cause) != 0) {
		fprintf(stderr, "fleet auth: %s\n", cause);
		free(cause);
		free(path);
		return (FLEET_EXIT_FAIL);
	}
	if (removed)
		printf("%s: key removed from %s\n", provider, path);
	else
		printf("%s: no key in %s\n", provider, path);
	free(path);
	auth_note_source(ctx, d, CREDS_NONE);
	if (removed)
		auth_tell_daemon(ctx);
	return (FLEET_EXIT_OK);
}

/* One provider's row or object; 1 when its lookup was refused. */
static int
auth_ls_one(struct cmd_ctx *ctx, const struct fleet_driver *d, cJSON *arr)
{
	struct creds_key	 k;
	cJSON			*o;
	char			*cause = NULL, *txt;
	int			 needs = (d->flags & DRV_NEEDS_KEY) != 0, bad;

	bad = creds_lookup(d, ctx->conf, 0, &k, &cause) != 0;
	txt = bad ? xprintf("refused: %s", cause) : !needs ?
	    xstrdup("no key needed") : creds_source_text(&k);
	if (arr != NULL) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "provider", d->name);
		cJSON_AddBoolToObject(o, "needs_key", needs);
		cJSON_AddStringToObject(o, "source", bad ? "error" :
		    creds_source_name(k.source));
		if (k.where != NULL)
			cJSON_AddStringToObject(o, "where", k.where);
		else
			cJSON_AddNullToObject(o, "where");
		if (bad)
			cJSON_AddStringToObject(o, "error", cause);
		else
			cJSON_AddNullToObject(o, "error");
		cJSON_AddItemToArray(arr, o);
	} else
		printf("%-12s %s\n", d->name, txt);
	free(txt);
	free(cause);
	creds_key_clear(&k);
	return (bad);
}

static int
auth_ls(struct cmd_ctx *ctx, int json)
{
	const struct fleet_driver	**dp;
	cJSON				*arr = NULL;
	char				*txt;
	int				 bad = 0;

	if (json)
		arr = cJSON_CreateArray();
	else
		printf("%-12s %s\n", "PROVIDER", "KEY FROM");
	for (dp = driver_table; *dp != NULL; dp++)
		bad |= auth_ls_one(ctx, *dp, arr);
	if (json) {
		txt = cJSON_Print(arr);
		printf("%s\n", txt);
		free(txt);
		cJSON_Delete(arr);
	}
	return (bad ? FLEET_EXIT_FAIL : FLEET_EXIT_OK);
}

static int
cmd_auth_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*sub;
	int		 ch, rc, json = 0;

	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (ch != 'j')
			return (cmd_usage_error(&cmd_auth_entry,
			    "bad option"));
		json = 1;
	}
	if (optind >= argc)
		return (cmd_usage_error(&cmd_auth_entry, "need set, ls or rm"));
	sub = argv[optind++];
	/* "ls --json": options may follow the subcommand too. */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'j')
			return (cmd_usage_error(&cmd_auth_entry,
			    "bad option"));
		json = 1;
	}
	if ((rc = cmd_load_config(ctx)) != 0)
		return (rc);
	if (strcmp(sub, "ls") == 0) {
		if (optind != argc)
			return (cmd_usage_error(&cmd_auth_entry,
			    "ls takes no arguments"));
		return (auth_ls(ctx, json));
	}
	if (strcmp(sub, "set") != 0 && strcmp(sub, "rm") != 0)
		return (cmd_usage_error(&cmd_auth_entry, "unknown subcommand "
		    "'%s'", sub));
	if (optind != argc - 1 || json)
		return (cmd_usage_error(&cmd_auth_entry,
		    "%s needs one PROVIDER", sub));
	if (strcmp(sub, "set") == 0)
		return (auth_set(ctx, argv[optind]));
	return (auth_rm(ctx, argv[optind]));
}

/* cmd.c: helpers every command shares: help, usage errors, config, state. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "config.h"
#include "state.h"
#include "driver.h"
#include "control.h"

const struct cmd_entry *
cmd_find(const char *name)
{
	const struct cmd_entry	**ce;

	for (ce = cmd_table; *ce != NULL; ce++)
		if (strcmp((*ce)->name, name) == 0)
			return (*ce);
	return (NULL);
}

/* Report a usage error for a command; always returns the usage exit code. */
int
cmd_usage_error(const struct cmd_entry *ce, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "fleet %s: ", ce->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: fleet %s %s\n", ce->name, ce->usage);
	return (FLEET_EXIT_USAGE);
}

/* Does the argument list (before any "--") ask for --help? */
int
cmd_wants_help(int argc, char **argv)
{
	int	i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return (1);
	}
	return (0);
}

int
cmd_print_help(const struct cmd_entry *ce)
{
	printf("usage: fleet %s %s\n\n%s\n", ce->name, ce->usage, ce->summary);
	if (ce->help != NULL && *ce->help != '\0')
		printf("\n%s", ce->help);
	return (FLEET_EXIT_OK);
}

/* Load the configuration once; on error print it and return the exit code. */
int
cmd_load_config(struct cmd_ctx *ctx)
{
	char	*cause = NULL;

	if (ctx->conf != NULL)
		return (0);
	if ((ctx->conf = config_load(ctx->config_path, &cause)) == NULL) {
		fprintf(stderr, "fleet: %s\n", cause);
		free(cause);
		return (FLEET_EXIT_USAGE);
	}
	return (0);
}

/* Work out the state dir (config, env, XDG) and make sure it exists. */
int
cmd_state_dir(struct cmd_ctx *ctx)
{
	int	rc;

	if (ctx->state_dir != NULL)
		return (0);
	if ((rc = cmd_load_config(ctx)) != 0)
		return (rc);
	if (ctx->conf->state != NULL)
		ctx->state_dir = xstrdup(ctx->conf->state);
	else
		ctx->state_dir = state_dir_default();
	if (mkdir_p(ctx->state_dir, 0700) != 0) {
		fprintf(stderr, "fleet: cannot create state dir %s: %s\n",
		    ctx->state_dir, strerror(errno));
		return (FLEET_EXIT_FAIL);
	}
	control_config_warn(ctx);
	return (0);
}

/* Open the state store (after the config, which may name its place). */
int
cmd_open_state(struct cmd_ctx *ctx)
{
	char	*cause = NULL;
	int	 rc;

	if (ctx->st != NULL)
		return (0);
	if ((rc = cmd_state_dir(ctx)) != 0)
		return (rc);
	if ((ctx->st = state_open(ctx->state_dir, &cause)) == NULL) {
		fprintf(stderr, "fleet: %s\n", cause);
		free(cause);
		return (FLEET_EXIT_FAIL);
	}
	return (0);
}

/*
 * Open the state and look up the deployment a command names. 0 when found;
 * otherwise the error is printed and the exit code returned.
 */
int
cmd_deployment(struct cmd_ctx *ctx, const struct cmd_entry *ce,
    const char *name, struct st_deployment *d)
{
	char	*cause = NULL;
	int	 r, rc;

	memset(d, 0, sizeof *d);
	if ((rc = cmd_open_state(ctx)) != 0)
		return (rc);
	if ((r = state_deployment_get(ctx->st, name, d, &cause)) == 1)
		return (0);
	if (r == 0)
		fprintf(stderr, "fleet %s: unknown deployment '%s'; see "
		    "`fleet ls`\n", ce->name, name);
	else
		fprintf(stderr, "fleet %s: %s\n", ce->name, cause);
	free(cause);
	return (FLEET_EXIT_FAIL);
}

void
cmd_ctx_free(struct cmd_ctx *ctx)
{
	if (ctx->st != NULL)
		state_close(ctx->st);
	if (ctx->conf != NULL)
		config_free(ctx->conf);
	free(ctx->state_dir);
	ctx->st = NULL;
	ctx->conf = NULL;
	ctx->state_dir = NULL;
}

static int
cmd_strv_has(char **v, int n, const char *s)
{
	int	i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return (1);
	return (0);
}

/*
 * Every "--word" in the usage line and help text: the help is what a user
 * reads, so it is the list of options to complete and to suggest from.
 */
int
cmd_long_options(const struct cmd_entry *ce, char ***out)
{
	const char	*texts[] = { ce->usage, ce->help }, *p, *e;
	char		**v = NULL, *w;
	int		  n = 0;
	size_t		  i;

	for (i = 0; i < nitems(texts); i++) {
		if (texts[i] == NULL)
			continue;
		for (p = texts[i]; (p = strstr(p, "--")) != NULL; p = e) {
			for (e = p + 2; (*e >= 'a' && *e <= 'z') ||
			    (*e >= '0' && *e <= '9') || *e == '-'; e++)
				;
			/* A bare "--" (end of options) or "---" is no name. */
			if (e - p < 4 || p[2] == '-' || (p > texts[i] &&
			    p[-1] != ' ' && p[-1] != '[' && p[-1] != '('))
				continue;
			w = xstrndup(p, e - p);
			if (cmd_strv_has(v, n, w)) {
				free(w);
				continue;
			}
			v = xreallocarray(v, n + 1, sizeof *v);
			v[n++] = w;
		}
	}
	*out = v;
	return (n);
}

void
cmd_option_hint(const struct cmd_entry *ce, int argc, char **argv)
{
	char		**opts, *w;
	const char	 *near;
	int		  n, i, j;

	n = cmd_long_options(ce, &opts);
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strncmp(argv[i], "--", 2) != 0)
			continue;
		w = xstrndup(argv[i], strcspn(argv[i], "="));
		if (!cmd_strv_has(opts, n, w) && (near = suggest_nearest(w,
		    (const char *const *)opts, n)) != NULL) {
			fprintf(stderr, "fleet %s: unknown option '%s' (did "
			    "you mean '%s'?)\n", ce->name, w, near);
			free(w);
			break;
		}
		free(w);
	}
	for (j = 0; j < n; j++)
		free(opts[j]);
	free(opts);
}

char *
cmd_unknown_provider(const char *name)
{
	const struct fleet_driver	**d;
	const char			 *names[32], *near;
	char				 *known = NULL, *tmp;
	size_t				  n = 0;

	for (d = driver_table; *d != NULL && n < nitems(names); d++) {
		names[n++] = (*d)->name;
		tmp = known;
		known = xprintf("%s%s%s", tmp != NULL ? tmp : "",
		    tmp != NULL ? ", " : "", (*d)->name);
		free(tmp);
	}
	if ((near = suggest_nearest(name, names, n)) != NULL)
		tmp = xprintf("unknown provider '%s' (did you mean '%s'?); "
		    "this build has: %s", name, near, known);
	else
		tmp = xprintf("unknown provider '%s' (this build has: %s)",
		    name, known);
	free(known);
	return (tmp);
}

void
cmd_unknown_command(const char *who, const char *name)
{
	const struct cmd_entry	**ce;
	const char		 *names[64], *near;
	size_t			  n = 0;

	for (ce = cmd_table; *ce != NULL && n < nitems(names); ce++)
		if (!(*ce)->hidden)
			names[n++] = (*ce)->name;
	if ((near = suggest_nearest(name, names, n)) != NULL)
		fprintf(stderr, "%s: unknown command '%s' (did you mean "
		    "'%s'?); see `fleet help`\n", who, name, near);
	else
		fprintf(stderr, "%s: unknown command '%s'; see `fleet help`\n",
		    who, name);
}

const char *
cmd_drv_msg(const char *provider, const char *msg)
{
	size_t	len = strlen(provider);

	if (msg == NULL)
		return ("");
	if (strncmp(msg, provider, len) == 0 && msg[len] == ':' &&
	    msg[len + 1] == ' ')
		return (msg + len + 2);
	return (msg);
}

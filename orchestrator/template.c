/* template.c: templates/NAME.yaml -> struct fleet_template; finding them. */
#include <sys/stat.h>

#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "yamlnode.h"

#ifndef FLEET_DATADIR
#define FLEET_DATADIR "/usr/local/share/fleet"
#endif

static const char *const port_protos[] = { "http", "ws", "tcp", NULL };
static const char *const health_kinds[] = { "http", "tcp", "ws", "ssh", NULL };
static const char *const idle_actions[] = { "terminate", "stop", NULL };
static const char *const vanish_actions[] = { "recreate", "down", NULL };

#define TMPL(f)	offsetof(struct fleet_template, f)
#define HLTH(f)	offsetof(struct tmpl_health, f)
#define PORT(f)	offsetof(struct tmpl_port, f)

static const char *template_check_provider(const char *);
static int template_parse_ports(const struct yfield *, const struct ynode *,
    const char *, void *, char **);

/* gpu and local are anonymous structs: offsets from the template start. */
static const struct yfield gpu_fields[] = {
	{ .key = "min_vram_gb", .type = YF_INT, .off = TMPL(gpu.min_vram_gb),
	  .min = 0, .max = 100000, .def = "0",
	  .help = "least VRAM per GPU, in GB" },
	{ .key = "models", .type = YF_STRLIST, .off = TMPL(gpu.models),
	  .noff = TMPL(gpu.nmodels),
	  .help = "acceptable GPU models; empty = any with enough VRAM" },
	{ .key = "count", .type = YF_INT, .off = TMPL(gpu.count), .min = 0,
	  .max = 64, .def = "1",
	  .help = "GPUs per instance, exactly, 0 = none (no gpu section: 0)" },
	{ .key = "count_max", .type = YF_INT, .off = TMPL(gpu.count_max),
	  .min = 0, .max = 64, .def = "0",
	  .help = "also accept up to this many GPUs; 0 = exactly count" },
	{ .key = NULL }
};

static const struct yfield health_fields[] = {
	{ .key = "type", .type = YF_ENUM, .off = HLTH(kind),
	  .choices = health_kinds, .def = "http",
	  .help = "http (2xx), tcp (connect), ws (handshake), ssh (command)" },
	{ .key = "path", .type = YF_STRING, .off = HLTH(path), .def = "/",
	  .check = ycheck_path, .help = "request path for http and ws" },
	{ .key = "command", .type = YF_STRING, .off = HLTH(command),
	  .help = "command run over ssh; exit 0 = healthy" },
	{ .key = "port", .type = YF_INT, .off = HLTH(port), .min = 0,
	  .max = 65535, .def = "0", .help = "port probed; 0 = the stable one" },
	{ .key = "interval", .type = YF_DURATION, .off = HLTH(interval),
	  .min = 1, .max = 3600, .def = "2s", .help = "time between probes" },
	{ .key = "timeout", .type = YF_DURATION, .off = HLTH(timeout),
	  .min = 1, .max = 3600, .def = "5s", .help = "limit for one probe" },
	{ .key = "boot_timeout", .type = YF_DURATION,
	  .off = HLTH(boot_timeout), .min = 1, .max = 7 * 86400,
	  .def = "15m", .help = "give up if not healthy after this long" },
	{ .key = NULL }
};

static const struct yfield local_fields[] = {
	{ .key = "command", .type = YF_STRING, .off = TMPL(local.command),
	  .help = "shell command; {fleet} and {port} are substituted" },
	{ .key = "env", .type = YF_ENV, .off = TMPL(local.env),
	  .noff = TMPL(local.nenv), .help = "extra environment" },
	{ .key = NULL }
};

static const struct yfield port_fields[] = {
	{ .key = "port", .type = YF_PORT, .off = PORT(number), .defnum = 0,
	  .help = "port the workload listens on inside the instance" },
	{ .key = "protocol", .type = YF_ENUM, .off = PORT(proto),
	  .choices = port_protos, .def = "http", .help = "http, ws or tcp" },
	{ .key = "stable", .type = YF_BOOL, .off = PORT(stable),
	  .def = "false", .help = "the port behind the stable URL" },
	{ .key = NULL }
};

static const struct yfield template_fields[] = {
	{ .key = "name", .type = YF_STRING, .off = TMPL(name),
	  .help = "must match the file name; defaults to it" },
	{ .key = "description", .type = YF_STRING, .off = TMPL(description),
	  .help = "one line for `fleet templates`" },
	{ .key = "gpu", .type = YF_SECTION, .sub = gpu_fields,
	  .help = "what hardware fits" },
	{ .key = "image", .type = YF_STRING, .off = TMPL(image),
	  .help = "container image run on cloud providers" },
	{ .key = "args", .type = YF_STRLIST, .off = TMPL(args),
	  .noff = TMPL(nargs), .help = "container command and arguments" },
	{ .key = "env", .type = YF_ENV, .off = TMPL(env), .noff = TMPL(nenv),
	  .help = "container environment" },
	{ .key = "disk_gb", .type = YF_INT, .off = TMPL(disk_gb), .min = 1,
	  .max = 100000, .def = "50", .help = "container disk, GB" },
	{ .key = "ports", .type = YF_CUSTOM, .parse = template_parse_ports,
	  .help = "exposed ports: [{port, protocol, stable}]" },
	{ .key = "health", .type = YF_SECTION, .off = TMPL(health),
	  .sub = health_fields, .help = "readiness check" },
	{ .key = "providers", .type = YF_STRLIST, .off = TMPL(providers),
	  .noff = TMPL(nproviders), .check = template_check_provider,
	  .help = "providers to try, in order; empty = cheapest first" },
	{ .key = "max_price", .type = YF_MONEY, .off = TMPL(max_price),
	  .def = "0", .help = "$/h cap, 0 = the config default" },
	{ .key = "idle_timeout", .type = YF_DURATION,
	  .off = TMPL(idle_timeout), .defnum = -1,
	  .help = "idle limit; unset = the config default, 0 = off" },
	{ .key = "max_lifetime", .type = YF_DURATION,
	  .off = TMPL(max_lifetime), .defnum = -1,
	  .help = "life limit; unset = the config default, 0 = off" },
	{ .key = "idle_action", .type = YF_ENUM, .off = TMPL(idle_action),
	  .choices = idle_actions, .defnum = -1,
	  .help = "terminate or stop; unset = the config default" },
	{ .key = "idle_gpu_percent", .type = YF_INT,
	  .off = TMPL(idle_gpu_percent), .min = 0, .max = 100, .def = "5",
	  .help = "GPU use below this counts as idle" },
	{ .key = "wake_on_request", .type = YF_BOOL,
	  .off = TMPL(wake_on_request), .def = "false",
	  .help = "a request to a stopped deployment starts it" },
	{ .key = "spot", .type = YF_BOOL, .off = TMPL(spot), .def = "false",
	  .help = "rent interruptible (spot) capacity where offered" },
	{ .key = "stable_port", .type = YF_INT, .off = TMPL(stable_port),
	  .min = 0, .max = 65535, .def = "0",
	  .help = "local port of the stable URL; 0 = allocate one" },
	{ .key = "tunnel", .type = YF_BOOL, .off = TMPL(tunnel),
	  .def = "false",
	  .help = "reach the service through an ssh tunnel, not directly" },
	{ .key = "log_file", .type = YF_STRING, .off = TMPL(log_file),
	  .check = ycheck_path,
	  .help = "the workload's log file on the instance, for fleet logs" },
	{ .key = "deadman_timeout", .type = YF_DURATION,
	  .off = TMPL(deadman_timeout), .min = 0, .max = 7 * 86400,
	  .def = "0",
	  .help = "the instance ends itself after this long without the "
	  "daemon's heartbeat; 0 = off" },
	{ .key = "on_vanish", .type = YF_ENUM, .off = TMPL(on_vanish),
	  .choices = vanish_actions, .def = "recreate",
	  .help = "an instance gone at its provider: recreate it, or down" },
	{ .key = "max_recreates", .type = YF_INT, .off = TMPL(max_recreates),
	  .min = 0, .max = 1000, .def = "3",
	  .help = "re-creations per rolling 24h, then down; 0 = never" },
	{ .key = "local", .type = YF_SECTION, .sub = local_fields,
	  .help = "stand-in run by the local provider" },
	{ .key = NULL }
};

static const char *
template_check_provider(const char *name)
{
	size_t	 i;

	for (i = 0; config_provider_names[i] != NULL; i++) {
		if (strcmp(config_provider_names[i], name) == 0)
			return (NULL);
	}
	return ("unknown provider (known: runpod, lambda, vast, paperspace, "
	    "local)");
}

static int
template_parse_port(const struct ynode *item, const char *where,
    struct fleet_template *t, char **cause)
{
	struct tmpl_port	*tp;
	int			 i;

	tp = &t->ports[t->nports];
	ytable_defaults(port_fields, tp);
	if (ynode_mapping(item, where, cause) != 0 ||
	    ytable_apply(port_fields, item, where, tp, cause) != 0)
		return (-1);
	if (tp->number == 0)
		return (ynode_error(item, cause, "%s: missing 'port'", where));
	for (i = 0; i < t->nports; i++) {
		if (t->ports[i].number == tp->number)
			return (ynode_error(ynode_get(item, "port"), cause,
			    "%s: port %d is listed twice", where, tp->number));
	}
	t->nports++;
	return (0);
}

/* ports: [{port: N, protocol: http, stable: true}, ...] */
static int
template_parse_ports(__unused const struct yfield *f, const struct ynode *n,
    const char *where, void *base, char **cause)
{
	struct fleet_template	*t = base;
	char			*w;
	int			 i, rc;

	if (n->type == YNODE_SCALAR && n->null)
		return (0);
	if (ynode_sequence(n, where, cause) != 0)
		return (-1);
	free(t->ports);
	t->ports = xcalloc(n->nitems, sizeof *t->ports);
	t->nports = 0;
	for (i = 0; i < n->nitems; i++) {
		w = xprintf("%s[%d]", where, i);
		rc = template_parse_port(n->items[i], w, t, cause);
		free(w);
		if (rc != 0)
			return (-1);
	}
	return (0);
}

/* Exactly one stable port; a lone port is stable without saying so. */
static int
template_check_ports(struct fleet_template *t, const struct ynode *root,
    char **cause)
{
	const struct ynode	*ports = ynode_get(root, "ports");
	int			 i, stable = -1;

	if (t->nports == 0)
		return (ynode_error(ports != NULL ? ports : root, cause,
		    "ports: at least one port is required"));
	for (i = 0; i < t->nports; i++) {
		if (!t->ports[i].stable)
			continue;
		if (stable != -1)
			return (ynode_error(ports->items[i], cause,
			    "ports[%d]: only one port can be stable (port %d "
			    "already is)", i, t->ports[stable].number));
		stable = i;
	}
	if (stable == -1 && t->nports == 1)
		t->ports[0].stable = 1;
	else if (stable == -1)
		return (ynode_error(ports, cause, "ports: mark one port "
		    "'stable: true' (the one behind the stable URL)"));
	return (0);
}

/* "dir/personaplex-7b.yaml" -> "personaplex-7b". */
static char *
template_stem(const char *path)
{
	const char	*base = strrchr(path, '/');
	size_t		 len;

	base = base != NULL ? base + 1 : path;
	len = strlen(base);
	if (len > 5 && strcmp(base + len - 5, ".yaml") == 0)
		len -= 5;
	return (xstrndup(base, len));
}

static int
template_check_name(struct fleet_template *t, const struct ynode *root,
    char **cause)
{
	const struct ynode	*n = ynode_get(root, "name");
	char			*stem = template_stem(t->path);
	int			 rc = 0;

	if (t->name == NULL) {
		t->name = stem;
		stem = NULL;
	}
	if (!name_is_valid(t->name))
		rc = ynode_error(n != NULL ? n : root, cause, "name: invalid "
		    "template name '%s' (use a-z, 0-9, '.' and '-')", t->name);
	else if (stem != NULL && strcmp(stem, t->name) != 0)
		rc = ynode_error(n, cause, "name: '%s' does not match the file "
		    "name '%s.yaml'", t->name, stem);
	free(stem);
	return (rc);
}

/* Rules that span keys; also fills in defaults that depend on others. */
static int
template_check(struct fleet_template *t, const struct ynode *root,
    char **cause)
{
	const struct ynode	*health = ynode_get(root, "health");

	if (template_check_name(t, root, cause) != 0 ||
	    template_check_ports(t, root, cause) != 0)
		return (-1);
	if (t->image == NULL && t->local.command == NULL)
		return (ynode_error(root, cause, "a template needs 'image' "
		    "(cloud providers) or 'local.command' (local provider)"));
	if (t->health.kind == HEALTH_SSH && t->health.command == NULL)
		return (ynode_error(health != NULL ? health : root, cause,
		    "health: type ssh needs a 'command'"));
	if (t->health.path == NULL)
		t->health.path = xstrdup("/");
	/* No gpu section: the workload needs none (count's default is 1). */
	if (ynode_get(root, "gpu") == NULL)
		t->gpu.count = 0;
	if (t->gpu.count_max != 0 && t->gpu.count_max < t->gpu.count)
		return (ynode_error(ynode_get(ynode_get(root, "gpu"),
		    "count_max"), cause, "gpu.count_max: %d is below gpu.count "
		    "%d", t->gpu.count_max, t->gpu.count));
	if (t->health.port == 0)
		t->health.port = template_stable_port(t)->number;
	return (0);
}

static struct fleet_template *
template_from_doc(const char *path, struct ydoc *doc, char **cause)
{
	struct fleet_template	*t;

	t = xcalloc(1, sizeof *t);
	ytable_defaults(template_fields, t);
	t->path = xstrdup(path);
	if (doc->root == NULL) {
		xasprintf(cause, "%s: empty template", path);
		template_free(t);
		return (NULL);
	}
	if (ytable_apply(template_fields, doc->root, NULL, t, cause) != 0 ||
	    template_check(t, doc->root, cause) != 0) {
		template_free(t);
		return (NULL);
	}
	return (t);
}

struct fleet_template *
template_load_buffer(const char *path, const char *buf, size_t len,
    char **cause)
{
	struct ydoc		*doc;
	struct fleet_template	*t;

	if ((doc = ydoc_parse_buffer(path, buf, len, cause)) == NULL)
		return (NULL);
	t = template_from_doc(path, doc, cause);
	ydoc_free(doc);
	return (t);
}

struct fleet_template *
template_load_file(const char *path, char **cause)
{
	struct ydoc		*doc;
	struct fleet_template	*t;

	if ((doc = ydoc_parse_file(path, cause)) == NULL)
		return (NULL);
	t = template_from_doc(path, doc, cause);
	ydoc_free(doc);
	return (t);
}

void
template_free(struct fleet_template *t)
{
	if (t == NULL)
		return;
	ytable_free(template_fields, t);
	free(t->ports);
	free(t->path);
	free(t);
}

/* One list of values: the first that cannot expand, with its file:line. */
static int
template_check_env(const struct fleet_template *t, const char *what,
    const struct tmpl_env *env, int n, char **cause)
{
	char	*out, *why;
	int	 i;

	for (i = 0; i < n; i++) {
		if (drv_env_subst(env[i].value, &out, &why) == 0) {
			freezero_str(out);
			continue;
		}
		freezero_str(out);
		if (env[i].line > 0)
			xasprintf(cause, "%s:%d: %s %s: %s", t->path,
			    env[i].line, what, env[i].key, why);
		else
			xasprintf(cause, "%s: %s %s: %s", t->path, what,
			    env[i].key, why);
		free(why);
		return (-1);
	}
	return (0);
}

/*
 * Every ${VAR} that the chosen providers would expand must be set, and
 * this is checked before any provider call: an unset HF_TOKEN would rent
 * a GPU that bills for a boot that can never work. which says what is
 * expanded: env (TMPL_VARS_ENV, cloud containers) and local.env
 * (TMPL_VARS_LOCAL). args and local.command are passed as written (the
 * container's or the local shell expands them there).
 */
int
template_check_vars(const struct fleet_template *t, int which, char **cause)
{
	if ((which & TMPL_VARS_ENV) &&
	    template_check_env(t, "env", t->env, t->nenv, cause) != 0)
		return (-1);
	if ((which & TMPL_VARS_LOCAL) && template_check_env(t, "local.env",
	    t->local.env, t->local.nenv, cause) != 0)
		return (-1);
	return (0);
}

const struct tmpl_port *
template_stable_port(const struct fleet_template *t)
{
	int	 i;

	for (i = 0; i < t->nports; i++) {
		if (t->ports[i].stable)
			return (&t->ports[i]);
	}
	return (NULL);
}

/* Add dir unless it is already listed under the same or another name. */
static void
search_add(char ***dirs, int *n, char *dir)
{
	char	 a[PATH_MAX], b[PATH_MAX];
	int	 i, real;

	real = realpath(dir, a) != NULL;
	for (i = 0; i < *n; i++) {
		if (strcmp((*dirs)[i], dir) == 0 ||
		    (real && realpath((*dirs)[i], b) != NULL &&
		    strcmp(a, b) == 0)) {
			free(dir);
			return;
		}
	}
	*dirs = xreallocarray(*dirs, *n + 1, sizeof **dirs);
	(*dirs)[(*n)++] = dir;
}

/* templates/ next to the binary's directory: build/fleet -> ./templates. */
static char *
search_exe_dir(const char *sub)
{
	char	 exe[PATH_MAX], *slash;
	ssize_t	 len;

	if ((len = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0)
		return (NULL);
	exe[len] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return (NULL);
	*slash = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return (NULL);
	slash[1] = '\0';
	return (xprintf("%s%s", exe, sub));
}

/* Where templates are looked for, most specific first. */
char **
template_search_dirs(const struct fleet_config *conf, int *n)
{
	char		**dirs = NULL, *dir;
	const char	 *env = getenv("FLEET_TEMPLATE_DIR");
	int		  i;

	*n = 0;
	for (i = 0; conf != NULL && i < conf->ntemplate_dirs; i++)
		search_add(&dirs, n, xstrdup(conf->template_dirs[i]));
	if (env != NULL && *env != '\0')
		search_add(&dirs, n, xstrdup(env));
	if ((dir = config_user_dir()) != NULL) {
		search_add(&dirs, n, xprintf("%s/templates", dir));
		free(dir);
	}
	search_add(&dirs, n, xstrdup("./templates"));
	/* Next to the binary: the build tree, then an install's share/. */
	if ((dir = search_exe_dir("templates")) != NULL)
		search_add(&dirs, n, dir);
	if ((dir = search_exe_dir("share/fleet/templates")) != NULL)
		search_add(&dirs, n, dir);
	search_add(&dirs, n, xstrdup(FLEET_DATADIR "/templates"));
	return (dirs);
}

static void
strv_free(char **v, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
template_cmp(const void *a, const void *b)
{
	char	*sa = template_stem(*(char *const *)a);
	char	*sb = template_stem(*(char *const *)b);
	int	 rc = strcmp(sa, sb);

	free(sa);
	free(sb);
	return (rc);
}

/* Is path/NAME.yaml a template file whose name is not taken yet? */
static int
template_list_wants(char **paths, int n, const char *dir, const char *entry)
{
	struct stat	 sb;
	char		*stem, *path, *other;
	int		 i, ok;

	stem = template_stem(entry);
	ok = strlen(entry) > 5 && strcmp(stem, entry) != 0 &&
	    name_is_valid(stem);
	for (i = 0; ok && i < n; i++) {
		other = template_stem(paths[i]);
		ok = strcmp(other, stem) != 0;
		free(other);
	}
	free(stem);
	if (!ok)
		return (0);
	path = xprintf("%s/%s", dir, entry);
	ok = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
	free(path);
	return (ok);
}

/* Every template file by name, the first directory winning, sorted. */
char **
template_list_paths(const struct fleet_config *conf, int *n)
{
	char		**dirs, **paths = NULL;
	int		  ndirs, i;
	DIR		 *d;
	struct dirent	 *de;

	*n = 0;
	dirs = template_search_dirs(conf, &ndirs);
	for (i = 0; i < ndirs; i++) {
		if ((d = opendir(dirs[i])) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (!template_list_wants(paths, *n, dirs[i],
			    de->d_name))
				continue;
			paths = xreallocarray(paths, *n + 1, sizeof *paths);
			paths[(*n)++] = xprintf("%s/%s", dirs[i], de->d_name);
		}
		closedir(d);
	}
	strv_free(dirs, ndirs);
	if (*n > 0)
		qsort(paths, *n, sizeof *paths, template_cmp);
	return (paths);
}

/* "unknown template 'x' (did you mean 'y'?); see `fleet templates`" */
static void
template_unknown(const struct fleet_config *conf, const char *name,
    char **cause)
{
	char		**paths, **names;
	const char	 *near;
	int		  n, i;

	paths = template_list_paths(conf, &n);
	names = xcalloc(n + 1, sizeof *names);
	for (i = 0; i < n; i++)
		names[i] = template_stem(paths[i]);
	near = suggest_nearest(name, (const char *const *)names, n);
	if (near != NULL)
		xasprintf(cause, "unknown template '%s' (did you mean '%s'?); "
		    "see `fleet templates`", name, near);
	else
		xasprintf(cause, "unknown template '%s'; see `fleet templates`",
		    name);
	strv_free(names, n);
	strv_free(paths, n);
}

struct fleet_template *
template_find(const struct fleet_config *conf, const char *name,
    char **cause)
{
	struct fleet_template	*t = NULL;
	char			**dirs, *path;
	int			  ndirs, i, found = 0;

	if (!name_is_valid(name)) {
		xasprintf(cause, "invalid template name '%s' (use a-z, 0-9, "
		    "'.' and '-')", name);
		return (NULL);
	}
	dirs = template_search_dirs(conf, &ndirs);
	for (i = 0; i < ndirs && !found; i++) {
		path = xprintf("%s/%s.yaml", dirs[i], name);
		if (access(path, F_OK) == 0) {
			found = 1;
			t = template_load_file(path, cause);
		}
		free(path);
	}
	strv_free(dirs, ndirs);
	if (!found)
		template_unknown(conf, name, cause);
	return (t);
}

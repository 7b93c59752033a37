/* config.c: fleet.yaml -> struct fleet_config, through declarative tables. */
#include <errno.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "config.h"
#include "yamlnode.h"

/*
 * The providers fleet knows, with where their key and test URL come from.
 * Every one is present in a loaded config, so commands never have to ask
 * "was it configured?": only "is it enabled?".
 */
static const struct {
	const char	*name;
	const char	*key_env;	/* default api_key_env */
	const char	*url_env;	/* overrides base_url */
} config_known[] = {
	{ "runpod",	"RUNPOD_API_KEY",	"FLEET_RUNPOD_URL" },
	{ "lambda",	"LAMBDA_API_KEY",	"FLEET_LAMBDA_URL" },
	{ "vast",	"VAST_API_KEY",		"FLEET_VAST_URL" },
	{ "paperspace",	"PAPERSPACE_API_KEY",	"FLEET_PAPERSPACE_URL" },
	{ "local",	NULL,			NULL },
};

const char *const config_provider_names[] = {
	"runpod", "lambda", "vast", "paperspace", "local", NULL
};

static const char *const idle_actions[] = { "terminate", "stop", NULL };

#define PROV(f)	offsetof(struct provider_conf, f)
#define CONF(f)	offsetof(struct fleet_config, f)

#define CONFIG_TOKEN_MIN	16	/* proxy.token, characters */

static const struct yfield provider_fields[] = {
	{ .key = "enabled", .type = YF_BOOL, .off = PROV(enabled),
	  .def = "true", .help = "offer this provider to `fleet up`" },
	{ .key = "base_url", .type = YF_STRING, .off = PROV(base_url),
	  .check = ycheck_url, .help = "API endpoint; unset = the real one" },
	{ .key = "api_key_env", .type = YF_STRING, .off = PROV(api_key_env),
	  .check = ycheck_env_name,
	  .help = "environment variable holding the API key" },
	{ .key = "ssh_key_name", .type = YF_STRING, .off = PROV(ssh_key_name),
	  .help = "name of the SSH key registered at the provider" },
	{ .key = "region", .type = YF_STRING, .off = PROV(region),
	  .help = "preferred region" },
	{ .key = "max_price", .type = YF_MONEY, .off = PROV(max_price),
	  .def = "0", .help = "$/h cap for this provider, 0 = none" },
	{ .key = "min_reliability", .type = YF_MONEY,
	  .off = PROV(min_reliability), .def = "0",
	  .help = "vast: lowest host reliability offered, 0..1; 0 = 0.95" },
	{ .key = "verified", .type = YF_BOOL, .off = PROV(verified),
	  .def = "true", .help = "vast: only verified hosts" },
	{ .key = "ssh_user", .type = YF_STRING, .off = PROV(ssh_user),
	  .help = "user fleet logs in as over ssh; unset = the provider's" },
	{ .key = "prices", .type = YF_STRING, .off = PROV(prices),
	  .help = "paperspace: \"TYPE=USD,...\" correcting fleet's table" },
	{ .key = NULL }
};

/*
 * The sections below are anonymous structs inside struct fleet_config, so
 * their fields are addressed from the start of fleet_config and the
 * section itself sits at offset 0.
 */
static const struct yfield defaults_fields[] = {
	{ .key = "idle_timeout", .type = YF_DURATION,
	  .off = CONF(defaults.idle_timeout), .def = "30m",
	  .help = "stop or terminate after this long unused, 0 = off" },
	{ .key = "max_lifetime", .type = YF_DURATION,
	  .off = CONF(defaults.max_lifetime), .def = "12h",
	  .help = "hard limit on one deployment's life, 0 = off" },
	{ .key = "idle_action", .type = YF_ENUM,
	  .off = CONF(defaults.idle_action), .choices = idle_actions,
	  .def = "terminate", .help = "what idle does: terminate or stop" },
	{ .key = "max_price", .type = YF_MONEY,
	  .off = CONF(defaults.max_price), .def = "0",
	  .help = "$/h cap for any deployment, 0 = none" },
	{ .key = "failover_max_ratio", .type = YF_RATIO,
	  .off = CONF(defaults.failover_max_ratio), .min = 1, .max = 1000,
	  .def = "2.0", .help = "without a max_price, failover never rents "
	  "above this times the first offer's price" },
	{ .key = "confirm_above_usd", .type = YF_MONEY,
	  .off = CONF(defaults.confirm_above_usd), .def = "1.00",
	  .help = "fleet up on a terminal asks before renting above this "
	  "$/h; 0 = always ask" },
	{ .key = NULL }
};

static const struct yfield budget_fields[] = {
	{ .key = "daily_usd", .type = YF_MONEY, .off = CONF(budget.daily_usd),
	  .def = "0", .help = "fleet-wide spend per UTC day, 0 = no cap" },
	{ .key = "monthly_usd", .type = YF_MONEY,
	  .off = CONF(budget.monthly_usd), .def = "0",
	  .help = "fleet-wide spend per calendar month, 0 = no cap" },
	{ .key = NULL }
};

static const struct yfield proxy_fields[] = {
	{ .key = "bind", .type = YF_STRING, .off = CONF(proxy.bind),
	  .def = "127.0.0.1", .help = "address the stable endpoints use" },
	{ .key = "shared_port", .type = YF_PORT,
	  .off = CONF(proxy.shared_port), .def = "7070",
	  .help = "port answering NAME.localhost:PORT for every deployment" },
	{ .key = "port_min", .type = YF_PORT, .off = CONF(proxy.port_min),
	  .def = "8900", .help = "first port handed out as a stable port" },
	{ .key = "port_max", .type = YF_PORT, .off = CONF(proxy.port_max),
	  .def = "8999", .help = "last port handed out as a stable port" },
	{ .key = "hold_timeout", .type = YF_DURATION,
	  .off = CONF(proxy.hold_timeout), .def = "60s", .min = 0,
	  .max = 3600, .help = "hold requests this long while booting" },
	{ .key = "token", .type = YF_STRING, .off = CONF(proxy.token),
	  .help = "bearer token required by the proxy, unset = none" },
	{ .key = "max_header_bytes", .type = YF_INT,
	  .off = CONF(proxy.max_header_bytes), .min = 1024,
	  .max = 1024 * 1024, .def = "65536",
	  .help = "largest request head the proxy accepts" },
	{ .key = "body_timeout", .type = YF_DURATION,
	  .off = CONF(proxy.body_timeout), .def = "60s", .min = 1,
	  .max = 86400, .help = "close a request body idle this long (408)" },
	{ .key = "upstream_timeout", .type = YF_DURATION,
	  .off = CONF(proxy.upstream_timeout), .def = "300s", .min = 1,
	  .max = 86400, .help = "give up on a response silent this long (504)" },
	{ .key = "allowed_hosts", .type = YF_STRLIST,
	  .off = CONF(proxy.allowed_hosts), .noff = CONF(proxy.nallowed_hosts),
	  .help = "Host names served besides localhost ones; others get 421" },
	{ .key = NULL }
};

static const char *const reap_modes[] = { "report", "auto", NULL };

static const struct yfield daemon_fields[] = {
	{ .key = "watch_interval", .type = YF_DURATION,
	  .off = CONF(daemon.watch_interval), .def = "5s", .min = 1,
	  .help = "how often the watchdog checks idle, lifetime and budget" },
	{ .key = "reconcile_interval", .type = YF_DURATION,
	  .off = CONF(daemon.reconcile_interval), .def = "60s", .min = 0,
	  .help = "how often provider truth is compared with state, 0 = off" },
	{ .key = "reap", .type = YF_ENUM, .off = CONF(daemon.reap),
	  .choices = reap_modes, .def = "report",
	  .help = "orphaned fleet instances: report, or auto-terminate" },
	{ .key = NULL }
};

static const struct yfield ssh_fields[] = {
	{ .key = "key", .type = YF_STRING, .off = CONF(ssh.key),
	  .help = "private key file (~ expands); unset = ssh-agent" },
	{ .key = "known_hosts", .type = YF_STRING, .off = CONF(ssh.known_hosts),
	  .help = "host keys seen; unset = known_hosts in the state dir" },
	{ .key = "connect_timeout", .type = YF_DURATION,
	  .off = CONF(ssh.connect_timeout), .def = "10s", .min = 1,
	  .max = 600, .help = "limit for connect, handshake and login" },
	{ .key = "keepalive", .type = YF_DURATION, .off = CONF(ssh.keepalive),
	  .def = "15s", .min = 1, .max = 3600,
	  .help = "keepalive interval of the daemon's sessions" },
	{ .key = "gpu_sample_interval", .type = YF_DURATION,
	  .off = CONF(ssh.gpu_sample_interval), .def = "30s", .min = 0,
	  .help = "how often nvidia-smi runs on each instance, 0 = never" },
	{ .key = NULL }
};

static int config_parse_providers(const struct yfield *,
    const struct ynode *, const char *, void *, char **);

static const struct yfield config_fields[] = {
	{ .key = "providers", .type = YF_CUSTOM,
	  .parse = config_parse_providers, .sub = provider_fields,
	  .help = "per-provider settings, keyed by provider name" },
	{ .key = "defaults", .type = YF_SECTION, .sub = defaults_fields,
	  .help = "policy for templates that do not set their own" },
	{ .key = "budget", .type = YF_SECTION, .sub = budget_fields,
	  .help = "fleet-wide spending caps (circuit breaker)" },
	{ .key = "proxy", .type = YF_SECTION, .sub = proxy_fields,
	  .help = "the daemon's stable endpoints" },
	{ .key = "daemon", .type = YF_SECTION, .sub = daemon_fields,
	  .help = "the watchdog and the reconciler" },
	{ .key = "ssh", .type = YF_SECTION, .sub = ssh_fields,
	  .help = "sessions to instances: health, GPU samples, tunnels" },
	{ .key = "state", .type = YF_STRING, .off = CONF(state),
	  .help = "state directory; unset = $XDG_STATE_HOME/fleet" },
	{ .key = "template_dirs", .type = YF_STRLIST,
	  .off = CONF(template_dirs), .noff = CONF(ntemplate_dirs),
	  .help = "directories searched for templates before the built-in" },
	{ .key = NULL }
};

static struct provider_conf *
config_provider_mut(struct fleet_config *conf, const char *name)
{
	int	 i;

	for (i = 0; i < conf->nproviders; i++) {
		if (strcmp(conf->providers[i].name, name) == 0)
			return (&conf->providers[i]);
	}
	return (NULL);
}

const struct provider_conf *
config_provider(const struct fleet_config *conf, const char *name)
{
	return (config_provider_mut((struct fleet_config *)conf, name));
}

static int
config_unknown_provider(const struct ynode *key, char **cause)
{
	const char	*near;

	near = suggest_nearest(key->value, config_provider_names,
	    nitems(config_provider_names) - 1);
	if (near != NULL)
		return (ynode_error(key, cause, "unknown provider '%s' (did "
		    "you mean '%s'?)", key->value, near));
	return (ynode_error(key, cause, "unknown provider '%s' (known: "
	    "runpod, lambda, vast, paperspace, local)", key->value));
}

/* providers: { NAME: { ... } } onto the entries config_default made. */
static int
config_parse_providers(__unused const struct yfield *f,
    const struct ynode *n, const char *where, void *base, char **cause)
{
	struct fleet_config	*conf = base;
	struct provider_conf	*p;
	const struct ynode	*key;
	char			*w;
	int			 i, rc;

	if (n->type == YNODE_SCALAR && n->null)
		return (0);
	if (ynode_mapping(n, where, cause) != 0)
		return (-1);
	for (i = 0; i < n->npairs; i++) {
		key = n->pairs[i].key;
		if ((p = config_provider_mut(conf, key->value)) == NULL)
			return (config_unknown_provider(key, cause));
		w = ynode_where(where, key->value);
		rc = ytable_apply(provider_fields, n->pairs[i].value, w, p,
		    cause);
		free(w);
		if (rc != 0)
			return (-1);
		p->line = key->line;
	}
	return (0);
}

struct fleet_config *
config_default(void)
{
	struct fleet_config	*conf;
	struct provider_conf	*p;
	size_t			 i;

	conf = xcalloc(1, sizeof *conf);
	ytable_defaults(config_fields, conf);
	conf->providers = xcalloc(nitems(config_known), sizeof *p);
	conf->nproviders = nitems(config_known);
	for (i = 0; i < nitems(config_known); i++) {
		p = &conf->providers[i];
		ytable_defaults(provider_fields, p);
		p->name = xstrdup(config_known[i].name);
		if (config_known[i].key_env != NULL)
			p->api_key_env = xstrdup(config_known[i].key_env);
	}
	return (conf);
}

void
config_free(struct fleet_config *conf)
{
	int	 i;

	if (conf == NULL)
		return;
	for (i = 0; i < conf->nproviders; i++) {
		free(conf->providers[i].name);
		ytable_free(provider_fields, &conf->providers[i]);
	}
	free(conf->providers);
	ytable_free(config_fields, conf);
	free(conf->path);
	free(conf);
}

/* The node to blame for a cross-field error: the key if set, else its map. */
static const struct ynode *
config_blame(const struct ynode *root, const char *section, const char *key)
{
	const struct ynode	*sec, *n;

	if ((sec = ynode_get(root, section)) == NULL)
		return (root);
	if ((n = ynode_get(sec, key)) == NULL)
		return (sec);
	return (n);
}

/*
 * A token short enough to guess is no gate, and log redaction skips very
 * short secrets: refuse it rather than guard with it. "" means unset.
 */
static int
config_token_weak(const char *token)
{
	size_t	 n;

	if (token == NULL || *token == '\0')
		return (0);
	n = strlen(token);
	return (n < CONFIG_TOKEN_MIN || strspn(token, " \t\r\n\f\v") == n);
}

/* Rules that span more than one key. */
static int
config_check(const struct fleet_config *conf, const struct ynode *root,
    char **cause)
{
	int	 lo = conf->proxy.port_min, hi = conf->proxy.port_max;
	int	 shared = conf->proxy.shared_port;

	if (conf->proxy.bind == NULL || *conf->proxy.bind == '\0')
		return (ynode_error(config_blame(root, "proxy", "bind"), cause,
		    "proxy.bind: missing value"));
	if (lo > hi)
		return (ynode_error(config_blame(root, "proxy", "port_min"),
		    cause, "proxy.port_min (%d) is greater than "
		    "proxy.port_max (%d)", lo, hi));
	if (shared >= lo && shared <= hi)
		return (ynode_error(config_blame(root, "proxy", "shared_port"),
		    cause, "proxy.shared_port (%d) is inside the stable port "
		    "range %d-%d", shared, lo, hi));
	if (config_token_weak(conf->proxy.token))
		return (ynode_error(config_blame(root, "proxy", "token"), cause,
		    "proxy.token: use at least %d characters, not only "
		    "spaces (e.g. `openssl rand -hex 24`)", CONFIG_TOKEN_MIN));
	return (0);
}

/* "~/x" -> "$HOME/x"; relative -> relative to the config file's dir. */
static char *
config_resolve_dir(const char *conf_path, const char *dir)
{
	const char	*home = getenv("HOME");
	char		*copy, *out;

	if (strncmp(dir, "~/", 2) == 0 && home != NULL && *home != '\0')
		return (xprintf("%s/%s", home, dir + 2));
	if (dir[0] == '/' || conf_path == NULL)
		return (xstrdup(dir));
	copy = xstrdup(conf_path);
	out = xprintf("%s/%s", dirname(copy), dir);
	free(copy);
	return (out);
}

/* A path setting that starts with ~/ is under $HOME. */
static void
config_expand_home(char **path)
{
	char	*dir;

	if (*path != NULL && strncmp(*path, "~/", 2) == 0) {
		dir = config_resolve_dir(NULL, *path);
		free(*path);
		*path = dir;
	}
}

static struct fleet_config *
config_from_doc(struct ydoc *doc, char **cause)
{
	struct fleet_config	*conf;
	char			*dir;
	int			 i;

	conf = config_default();
	conf->path = xstrdup(doc->file);
	if (ytable_apply(config_fields, doc->root, NULL, conf, cause) != 0 ||
	    config_check(conf, doc->root, cause) != 0) {
		config_free(conf);
		return (NULL);
	}
	for (i = 0; i < conf->ntemplate_dirs; i++) {
		dir = config_resolve_dir(conf->path, conf->template_dirs[i]);
		free(conf->template_dirs[i]);
		conf->template_dirs[i] = dir;
	}
	config_expand_home(&conf->state);
	config_expand_home(&conf->ssh.key);
	config_expand_home(&conf->ssh.known_hosts);
	return (conf);
}

struct fleet_config *
config_load_buffer(const char *name, const char *buf, size_t len,
    char **cause)
{
	struct ydoc		*doc;
	struct fleet_config	*conf;

	if ((doc = ydoc_parse_buffer(name, buf, len, cause)) == NULL)
		return (NULL);
	conf = config_from_doc(doc, cause);
	ydoc_free(doc);
	return (conf);
}

struct fleet_config *
config_load_file(const char *path, char **cause)
{
	struct ydoc		*doc;
	struct fleet_config	*conf;

	if ((doc = ydoc_parse_file(path, cause)) == NULL)
		return (NULL);
	conf = config_from_doc(doc, cause);
	ydoc_free(doc);
	return (conf);
}

/* $XDG_CONFIG_HOME/fleet, or ~/.config/fleet; NULL without a home. */
char *
config_user_dir(void)
{
	const char	*xdg = getenv("XDG_CONFIG_HOME");
	const char	*home = getenv("HOME");

	if (xdg != NULL && *xdg != '\0')
		return (xprintf("%s/fleet", xdg));
	if (home != NULL && *home != '\0')
		return (xprintf("%s/.config/fleet", home));
	return (NULL);
}

/*
 * --config, $FLEET_CONFIG, ./fleet.yaml, then the user's config dir. An
 * explicit choice is returned even if missing so the loader can say so.
 */
char *
config_find_path(const char *explicit_path)
{
	const char	*env = getenv("FLEET_CONFIG");
	char		*dir, *path;

	if (explicit_path != NULL && *explicit_path != '\0')
		return (xstrdup(explicit_path));
	if (env != NULL && *env != '\0')
		return (xstrdup(env));
	if (access("fleet.yaml", F_OK) == 0)
		return (xstrdup("fleet.yaml"));
	if ((dir = config_user_dir()) == NULL)
		return (NULL);
	path = xprintf("%s/fleet.yaml", dir);
	free(dir);
	if (access(path, F_OK) == 0)
		return (path);
	free(path);
	return (NULL);
}

/* FLEET_<PROVIDER>_URL and FLEET_STATE_DIR beat the file: tests use them. */
static int
config_apply_env(struct fleet_config *conf, char **cause)
{
	struct provider_conf	*p;
	const char		*v, *bad;
	size_t			 i;

	for (i = 0; i < nitems(config_known); i++) {
		if (config_known[i].url_env == NULL)
			continue;
		v = getenv(config_known[i].url_env);
		if (v == NULL || *v == '\0')
			continue;
		if ((bad = ycheck_url(v)) != NULL) {
			xasprintf(cause, "%s: invalid value '%s': %s",
			    config_known[i].url_env, v, bad);
			return (-1);
		}
		p = config_provider_mut(conf, config_known[i].name);
		free(p->base_url);
		p->base_url = xstrdup(v);
	}
	if ((v = getenv("FLEET_STATE_DIR")) != NULL && *v != '\0') {
		free(conf->state);
		conf->state = xstrdup(v);
	}
	return (0);
}

struct fleet_config *
config_load(const char *explicit_path, char **cause)
{
	struct fleet_config	*conf;
	char			*path;

	if ((path = config_find_path(explicit_path)) == NULL)
		conf = config_default();
	else {
		conf = config_load_file(path, cause);
		free(path);
		if (conf == NULL)
			return (NULL);
	}
	if (config_apply_env(conf, cause) != 0) {
		config_free(conf);
		return (NULL);
	}
	return (conf);
}

/* The fleet.yaml keys, for the check that fleet(1) documents each one. */
const struct yfield *
config_table(void)
{
	return (config_fields);
}

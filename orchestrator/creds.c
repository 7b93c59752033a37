/* creds.c: provider API keys from the env, fleet's file or the CLI's. */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fleet.h"
#include "config.h"
#include "creds.h"
#include "driver.h"

static const char *creds_source_names[] = { "none", "env", "file", "cli" };

char *
creds_path(void)
{
	const char	*v;

	if ((v = getenv("XDG_CONFIG_HOME")) != NULL && *v == '/')
		return (xprintf("%s/fleet/credentials", v));
	if ((v = getenv("HOME")) == NULL || *v == '\0')
		v = "/";
	return (xprintf("%s/.config/fleet/credentials", v));
}

const char *
creds_env_name(const struct fleet_driver *drv, const struct fleet_config *c)
{
	const struct provider_conf	*pc;

	pc = c != NULL ? config_provider(c, drv->name) : NULL;
	if (pc != NULL && pc->api_key_env != NULL)
		return (pc->api_key_env);
	return (drv->key_env);
}

const char *
creds_source_name(enum creds_source s)
{
	if ((size_t)s >= nitems(creds_source_names))
		return ("none");
	return (creds_source_names[s]);
}

char *
creds_source_text(const struct creds_key *k)
{
	switch (k->source) {
	case CREDS_ENV:
		return (xprintf("env %s", k->where));
	case CREDS_FILE:
		return (xprintf("credentials file %s", k->where));
	case CREDS_CLI:
		return (xprintf("%s file %s", k->cli, k->where));
	default:
		return (xstrdup("none"));
	}
}

void
creds_key_clear(struct creds_key *k)
{
	free(k->where);
	if (k->key != NULL)
		freezero_str(k->key);
	memset(k, 0, sizeof *k);
}

void
creds_entries_free(struct creds_entry *e, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(e[i].provider);
		freezero_str(e[i].key);
	}
	free(e);
}

/* A key is one printable token: what every provider issues. */
int
creds_key_valid(const char *key, char **cause)
{
	const unsigned char	*p;

	if (*key == '\0') {
		*cause = xstrdup("the key is empty");
		return (0);
	}
	if (strlen(key) > CREDS_KEY_MAX) {
		*cause = xprintf("the key is longer than %d bytes",
		    CREDS_KEY_MAX);
		return (0);
	}
	for (p = (const unsigned char *)key; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f) {
			*cause = xstrdup("the key has a space or a control "
			    "character in it");
			return (0);
		}
	}
	return (1);
}

/* Which providers may have a key in the file: those whose driver takes one. */
static int
creds_provider_ok(const char *name)
{
	const struct fleet_driver	*d = driver_find(name);

	return (d != NULL && (d->flags & DRV_NEEDS_KEY));
}

/* One non-comment line: "NAME = KEY", spaces around '=' optional. */
static int
creds_parse_line(const char *name, int line, char *s, struct creds_entry *e,
    char **cause)
{
	char	*eq, *k, *v, *end, *why = NULL;

	if ((eq = strchr(s, '=')) == NULL) {
		*cause = xprintf("%s:%d: expected `PROVIDER = KEY`", name,
		    line);
		return (-1);
	}
	*eq = '\0';
	for (k = s; *k == ' ' || *k == '\t'; k++)
		;
	for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (end = v + strlen(v); end > v &&
	    (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'); end--)
		;
	*end = '\0';
	if (!creds_provider_ok(k)) {
		*cause = xprintf("%s:%d: '%s' is not a provider that takes an "
		    "API key", name, line, k);
		return (-1);
	}
	if (!creds_key_valid(v, &why)) {
		*cause = xprintf("%s:%d: %s: %s", name, line, k, why);
		free(why);
		return (-1);
	}
	e->provider = xstrdup(k);
	e->key = xstrdup(v);
	e->line = line;
	log_add_secret(e->key);
	return (0);
}

int
creds_parse(const char *name, const char *buf, size_t len,
    struct creds_entry **out, size_t *n, char **cause)
{
	struct creds_entry	*v = NULL;
	char			*copy, *s, *nl, *p;
	size_t			 nv = 0, i;
	int			 line = 0;

	*out = NULL;
	*n = 0;
	if (memchr(buf, '\0', len) != NULL) {
		*cause = xprintf("%s: not a text file", name);
		return (-1);
	}
	copy = xstrndup(buf, len);
	for (s = copy; s != NULL && *s != '\0'; s = nl) {
		line++;
		if ((nl = strchr(s, '\n')) != NULL)
			*nl++ = '\0';
		for (p = s; *p == ' ' || *p == '\t' || *p == '\r'; p++)
			;
		if (*p == '\0' || *p == '#')
			continue;
		v = xreallocarray(v, nv + 1, sizeof *v);
		memset(&v[nv], 0, sizeof *v);
		if (creds_parse_line(name, line, p, &v[nv], cause) != 0)
			goto fail;
		for (i = 0; i < nv; i++) {
			if (strcmp(v[i].provider, v[nv].provider) != 0)
				continue;
			*cause = xprintf("%s:%d: %s is already set on line %d",
			    name, line, v[nv].provider, v[i].line);
			nv++;
			goto fail;
		}
		nv++;
	}
	freezero_str(copy);
	*out = v;
	*n = nv;
	return (0);
fail:
	freezero_str(copy);
	creds_entries_free(v, nv);
	return (-1);
}

/*
 * Read a whole small file that only its owner may read. 1 and *buf, 0
 * when it does not exist, -1 and *cause when it is refused.
 */
static int
creds_read_private(const char *path, char **buf, size_t *len, char **cause)
{
	struct stat	 sb;
	ssize_t		 r;
	int		 fd;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno == ENOENT)
			return (0);
		*cause = xprintf("%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		*cause = xprintf("%s: not a regular file", path);
		goto fail;
	}
	if (sb.st_uid != geteuid()) {
		*cause = xprintf("%s is owned by uid %u, not by you (uid %u): "
		    "refusing to use its keys", path, (unsigned)sb.st_uid,
		    (unsigned)geteuid());
		goto fail;
	}
	if ((sb.st_mode & 077) != 0) {
		*cause = xprintf("%s has mode %04o: group or others can read "
		    "it: refusing to use its keys; run `chmod 600 %s`", path,
		    (unsigned)(sb.st_mode & 07777), path);
		goto fail;
	}
	if (sb.st_size > CREDS_FILE_MAX) {
		*cause = xprintf("%s: larger than %d bytes", path,
		    CREDS_FILE_MAX);
		goto fail;
	}
	*buf = xmalloc((size_t)sb.st_size + 1);
	*len = 0;
	while (*len < (size_t)sb.st_size &&
	    (r = read(fd, *buf + *len, (size_t)sb.st_size - *len)) > 0)
		*len += (size_t)r;
	(*buf)[*len] = '\0';
	close(fd);
	return (1);
fail:
	close(fd);
	return (-1);
}

int
creds_file_read(const char *path, struct creds_entry **out, size_t *n,
    char **cause)
{
	char	*buf;
	size_t	 len;
	int	 r;

	*out = NULL;
	*n = 0;
	if ((r = creds_read_private(path, &buf, &len, cause)) <= 0)
		return (r);
	r = creds_parse(path, buf, len, out, n, cause);
	freezero_str(buf);
	return (r);
}

/* "~/x" and "$XDG_CONFIG_HOME/x" as this user's paths; caller frees. */
static char *
creds_expand(const char *path)
{
	const char	*home = getenv("HOME"), *xdg;

	if (home == NULL || *home == '\0')
		home = "/";
	if (strncmp(path, "~/", 2) == 0)
		return (xprintf("%s/%s", home, path + 2));
	if (strncmp(path, "$XDG_CONFIG_HOME/", 17) == 0) {
		if ((xdg = getenv("XDG_CONFIG_HOME")) != NULL && *xdg == '/')
			return (xprintf("%s/%s", xdg, path + 17));
		return (xprintf("%s/.config/%s", home, path + 17));
	}
	return (xstrdup(path));
}

/* A TOML `field = "value"` before any [table]; 1 found, 0 not, -1 bad. */
static int
creds_toml_find(const char *path, char *buf, const char *field, char **key,
    char **cause)
{
	char	*s, *nl, *p, *end;
	size_t	 fl = strlen(field);
	int	 line = 0;

	for (s = buf; s != NULL && *s != '\0'; s = nl) {
		line++;
		if ((nl = strchr(s, '\n')) != NULL)
			*nl++ = '\0';
		for (p = s; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '[')
			return (0);	/* tables follow: not top-level */
		if (strncasecmp(p, field, fl) != 0)
			continue;
		for (p += fl; *p == ' ' || *p == '\t'; p++)
			;
		if (*p != '=')
			continue;	/* a longer key that starts alike */
		for (p++; *p == ' ' || *p == '\t'; p++)
			;
		if ((*p != '"' && *p != '\'') ||
		    (end = strchr(p + 1, *p)) == NULL) {
			*cause = xprintf("%s:%d: %s is not a quoted string",
			    path, line, field);
			return (-1);
		}
		*key = xstrndup(p + 1, end - (p + 1));
		return (1);
	}
	return (0);
}

int
creds_cli_read(const struct drv_key_file *kf, char **path, char **key,
    char **cause)
{
	char	*buf = NULL, *k = NULL, *why = NULL;
	FILE	*f;
	size_t	 len;
	int	 r = 0;

	*key = NULL;
	*path = creds_expand(kf->path);
	if ((f = fopen(*path, "re")) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			goto out;
		*cause = xprintf("%s: %s", *path, strerror(errno));
		r = -1;
		goto out;
	}
	buf = xmalloc(CREDS_FILE_MAX + 1);
	len = fread(buf, 1, CREDS_FILE_MAX, f);
	fclose(f);
	buf[len] = '\0';
	if (kf->format == DRV_KEYFILE_TOML) {
		r = creds_toml_find(*path, buf, kf->field, &k, cause);
		if (r <= 0)
			goto out;
	} else {
		buf[strcspn(buf, "\r\n")] = '\0';
		k = xstrdup(buf + strspn(buf, " \t"));
		k[strcspn(k, " \t")] = '\0';
	}
	r = 0;
	if (*k == '\0')
		goto out;	/* an empty file: no key */
	if (!creds_key_valid(k, &why)) {
		*cause = xprintf("%s: %s", *path, why);
		free(why);
		r = -1;
		goto out;
	}
	log_add_secret(k);
	*key = k;
	k = NULL;
	r = 1;
out:
	if (k != NULL)
		freezero_str(k);
	if (buf != NULL)
		freezero_str(buf);
	return (r);
}

/* Step 2: fleet's own file. 1 found, 0 not there, -1 refused. */
static int
creds_lookup_file(const struct fleet_driver *drv, struct creds_key *k,
    char **cause)
{
	struct creds_entry	*e;
	char			*path = creds_path();
	size_t			 n, i;
	int			 r = 0;

	if (creds_file_read(path, &e, &n, cause) != 0) {
		free(path);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (strcmp(e[i].provider, drv->name) != 0)
			continue;
		k->source = CREDS_FILE;
		k->where = path;
		k->key = xstrdup(e[i].key);
		path = NULL;
		r = 1;
		break;
	}
	free(path);
	creds_entries_free(e, n);
	return (r);
}

/* Step 3: the CLI's files, in the driver's order. */
static int
creds_lookup_cli(const struct fleet_driver *drv, struct creds_key *k,
    char **cause)
{
	const struct drv_key_file	*kf;
	char				*path, *key;
	int				 r;

	for (kf = drv->cli_key_files; kf != NULL && kf->path != NULL; kf++) {
		if ((r = creds_cli_read(kf, &path, &key, cause)) == 0) {
			free(path);
			continue;
		}
		if (r == -1) {
			free(path);
			return (-1);
		}
		k->source = CREDS_CLI;
		k->where = path;
		k->cli = kf->cli;
		k->key = key;
		return (1);
	}
	return (0);
}

int
creds_lookup(const struct fleet_driver *drv, const struct fleet_config *c,
    int flags, struct creds_key *k, char **cause)
{
	const char	*env = creds_env_name(drv, c), *v;
	int		 r;

	memset(k, 0, sizeof *k);
	if (!(flags & CREDS_SKIP_ENV) && env != NULL &&
	    (v = getenv(env)) != NULL && *v != '\0') {
		k->source = CREDS_ENV;
		k->where = xstrdup(env);
		k->key = xstrdup(v);
		log_add_secret(v);
		return (0);
	}
	if (!(drv->flags & DRV_NEEDS_KEY))
		return (0);
	if ((r = creds_lookup_file(drv, k, cause)) == 0)
		r = creds_lookup_cli(drv, k, cause);
	if (r == -1) {
		creds_key_clear(k);
		return (-1);
	}
	return (0);
}

const char *
creds_export(const struct fleet_driver *drv, const struct fleet_config *c,
    enum creds_source *src, char **cause)
{
	struct creds_key	 k;
	const char		*env = creds_env_name(drv, c);

	*cause = NULL;
	if (src != NULL)
		*src = CREDS_NONE;
	if (creds_lookup(drv, c, 0, &k, cause) != 0)
		return (NULL);
	if (src != NULL)
		*src = k.source;
	if (k.source == CREDS_NONE) {
		creds_key_clear(&k);
		return (NULL);
	}
	/* No variable to carry it (a driver without key_env): keep none. */
	if (env == NULL) {
		creds_key_clear(&k);
		return (NULL);
	}
	if (k.source != CREDS_ENV)
		setenv(env, k.key, 1);
	creds_key_clear(&k);
	return (getenv(env));
}

/* Write text to path atomically: a 0600 temp file beside it, renamed. */
static int
creds_write_atomic(const char *path, const char *text, char **cause)
{
	char	*dir, *tmp, *copy = xstrdup(path);
	size_t	 len = strlen(text);
	int	 fd, rc = -1;

	dir = dirname(copy);
	if (mkdir_p(dir, 0700) != 0) {
		*cause = xprintf("cannot create %s: %s", dir, strerror(errno));
		free(copy);
		return (-1);
	}
	tmp = xprintf("%s.tmp.%ld", path, (long)getpid());
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		*cause = xprintf("cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* The umask may only take bits away; make sure of exactly 0600. */
	if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t)len ||
	    fsync(fd) != 0) {
		*cause = xprintf("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		*cause = xprintf("cannot replace %s: %s", path,
		    strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	free(copy);
	return (rc);
}

/*
 * Rewrite the file with provider's line replaced by "provider = key", or
 * dropped when key is NULL; every other line (comments too) kept as is.
 */
static int
creds_file_edit(const char *path, const char *provider, const char *key,
    int *found, char **cause)
{
	struct creds_entry	*e = NULL;
	char			*buf = NULL, *s, *nl, *out, *tmp;
	size_t			 len = 0, n = 0, i;
	int			 r, line = 0, target = 0, rc = -1;

	*found = 0;
	if ((r = creds_read_private(path, &buf, &len, cause)) == -1)
		return (-1);
	if (r == 1 && creds_parse(path, buf, len, &e, &n, cause) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if (strcmp(e[i].provider, provider) == 0)
			target = e[i].line;
	*found = target != 0;
	if (r == 0 || len == 0)
		out = xstrdup("# fleet credentials: one `PROVIDER = KEY` per "
		    "line (fleet auth set)\n");
	else
		out = xstrdup("");
	for (s = buf; s != NULL && *s != '\0'; s = nl) {
		line++;
		if ((nl = strchr(s, '\n')) != NULL)
			*nl++ = '\0';
		if (line == target && key == NULL)
			continue;
		tmp = out;
		if (line == target)
			out = xprintf("%s%s = %s\n", tmp, provider, key);
		else
			out = xprintf("%s%s\n", tmp, s);
		freezero_str(tmp);
	}
	if (target == 0 && key != NULL) {
		tmp = out;
		out = xprintf("%s%s = %s\n", tmp, provider, key);
		freezero_str(tmp);
	}
	if (target == 0 && key == NULL)
		rc = 0;		/* nothing to remove: leave the file alone */
	else
		rc = creds_write_atomic(path, out, cause);
	freezero_str(out);
out:
	creds_entries_free(e, n);
	if (buf != NULL)
		freezero_str(buf);
	return (rc);
}

int
creds_file_set(const char *path, const char *provider, const char *key,
    char **cause)
{
	char	*why = NULL;
	int	 found;

	if (!creds_provider_ok(provider)) {
		*cause = xprintf("'%s' is not a provider that takes an API key",
		    provider);
		return (-1);
	}
	if (!creds_key_valid(key, &why)) {
		*cause = why;
		return (-1);
	}
	log_add_secret(key);
	return (creds_file_edit(path, provider, key, &found, cause));
}

int
creds_file_remove(const char *path, const char *provider, int *removed,
    char **cause)
{
	return (creds_file_edit(path, provider, NULL, removed, cause));
}

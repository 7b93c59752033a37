/* yamlnode.c: parse YAML once into positioned nodes, then map them by table. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "fleet.h"
#include "config.h"
#include "yamlnode.h"

struct ybuild {
	yaml_parser_t	 parser;
	const char	*file;
	const char	*buf;
	size_t		 len;
	char	       **cause;
};

static struct ynode *ybuild_node(struct ybuild *, yaml_event_t *, int);

int
ynode_error(const struct ynode *n, char **cause, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (cause == NULL)
		return (-1);
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(cause, "%s:%d:%d: %s", n->file, n->line, n->col, msg);
	free(msg);
	return (-1);
}

/* Turn libyaml's error state into "file:line:col: problem (context)". */
static int
ybuild_syntax(struct ybuild *b)
{
	yaml_parser_t	*p = &b->parser;
	const char	*problem, *hint = "";
	char		*context = NULL;

	problem = p->problem != NULL ? p->problem : "unknown error";
	if (p->error == YAML_MEMORY_ERROR)
		fatalx("libyaml: out of memory");
	if (p->error == YAML_READER_ERROR) {
		xasprintf(b->cause, "%s: invalid text at byte %zu: %s",
		    b->file, p->problem_offset, problem);
		return (-1);
	}
	/* libyaml's message for a tab does not say "tab". */
	if (p->problem_mark.index < b->len &&
	    b->buf[p->problem_mark.index] == '\t')
		hint = " (YAML does not allow tabs for indentation)";
	if (p->context != NULL)
		context = xprintf(" (%s at line %zu)", p->context,
		    p->context_mark.line + 1);
	xasprintf(b->cause, "%s:%zu:%zu: syntax error: %s%s%s", b->file,
	    p->problem_mark.line + 1, p->problem_mark.column + 1, problem,
	    context != NULL ? context : "", hint);
	free(context);
	return (-1);
}

static int
ybuild_next(struct ybuild *b, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&b->parser, ev))
		return (ybuild_syntax(b));
	return (0);
}

static struct ynode *
ynode_new(struct ybuild *b, enum ynode_type type, const yaml_event_t *ev)
{
	struct ynode	*n;

	n = xcalloc(1, sizeof *n);
	n->type = type;
	n->file = b->file;
	n->line = ev->start_mark.line + 1;
	n->col = ev->start_mark.column + 1;
	return (n);
}

static void
ynode_free(struct ynode *n)
{
	int	 i;

	if (n == NULL)
		return;
	free(n->value);
	for (i = 0; i < n->npairs; i++) {
		ynode_free(n->pairs[i].key);
		ynode_free(n->pairs[i].value);
	}
	free(n->pairs);
	for (i = 0; i < n->nitems; i++)
		ynode_free(n->items[i]);
	free(n->items);
	free(n);
}

/* Only plain scalars can be null: a quoted "" is an empty string. */
static int
scalar_is_null(const yaml_event_t *ev)
{
	const char	*v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return (0);
	return (*v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
}

static struct ynode *
ybuild_scalar(struct ybuild *b, const yaml_event_t *ev)
{
	struct ynode	*n;
	size_t		 len = ev->data.scalar.length;

	n = ynode_new(b, YNODE_SCALAR, ev);
	if (memchr(ev->data.scalar.value, '\0', len) != NULL) {
		ynode_error(n, b->cause, "NUL character in a value");
		ynode_free(n);
		return (NULL);
	}
	n->value = xstrndup((const char *)ev->data.scalar.value, len);
	n->null = scalar_is_null(ev);
	return (n);
}

/* Add key/value to a mapping, refusing duplicates (YAML says keep last). */
static int
ybuild_pair(struct ybuild *b, struct ynode *map, struct ynode *key,
    struct ynode *value)
{
	int	 i;

	map->pairs = xreallocarray(map->pairs, map->npairs + 1,
	    sizeof *map->pairs);
	map->pairs[map->npairs].key = key;
	map->pairs[map->npairs].value = value;
	map->npairs++;
	for (i = 0; i < map->npairs - 1; i++) {
		if (strcmp(map->pairs[i].key->value, key->value) == 0)
			return (ynode_error(key, b->cause, "duplicate key "
			    "'%s' (first defined at line %d)", key->value,
			    map->pairs[i].key->line));
	}
	return (0);
}

static int
ybuild_mapping(struct ybuild *b, struct ynode *map, int depth)
{
	yaml_event_t	 ev;
	struct ynode	*key, *value;

	for (;;) {
		if (ybuild_next(b, &ev) != 0)
			return (-1);
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return (0);
		}
		if ((key = ybuild_node(b, &ev, depth)) == NULL)
			return (-1);
		if (key->type != YNODE_SCALAR) {
			ynode_error(key, b->cause, "keys must be plain "
			    "strings, not a %s", ynode_type_name(key));
			ynode_free(key);
			return (-1);
		}
		if (ybuild_next(b, &ev) != 0 ||
		    (value = ybuild_node(b, &ev, depth)) == NULL) {
			ynode_free(key);
			return (-1);
		}
		if (ybuild_pair(b, map, key, value) != 0)
			return (-1);
	}
}

static int
ybuild_sequence(struct ybuild *b, struct ynode *seq, int depth)
{
	yaml_event_t	 ev;
	struct ynode	*item;

	for (;;) {
		if (ybuild_next(b, &ev) != 0)
			return (-1);
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return (0);
		}
		if ((item = ybuild_node(b, &ev, depth)) == NULL)
			return (-1);
		seq->items = xreallocarray(seq->items, seq->nitems + 1,
		    sizeof *seq->items);
		seq->items[seq->nitems++] = item;
	}
}

/* Build the node that starts with ev (consumed), reading its children. */
static struct ynode *
ybuild_node(struct ybuild *b, yaml_event_t *ev, int depth)
{
	struct ynode	*n = NULL;
	int		 rc = -1;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = ybuild_scalar(b, ev);
		yaml_event_delete(ev);
		return (n);
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		break;
	case YAML_ALIAS_EVENT:
		n = ynode_new(b, YNODE_SCALAR, ev);
		ynode_error(n, b->cause, "aliases (*name) are not supported");
		goto out;
	default:
		n = ynode_new(b, YNODE_SCALAR, ev);
		ynode_error(n, b->cause, "unexpected YAML event");
		goto out;
	}
	if (ev->type == YAML_MAPPING_START_EVENT)
		n = ynode_new(b, YNODE_MAPPING, ev);
	else
		n = ynode_new(b, YNODE_SEQUENCE, ev);
	if (depth >= YNODE_MAX_DEPTH) {
		ynode_error(n, b->cause, "nested too deeply");
		goto out;
	}
	yaml_event_delete(ev);
	if (n->type == YNODE_MAPPING)
		rc = ybuild_mapping(b, n, depth + 1);
	else
		rc = ybuild_sequence(b, n, depth + 1);
	if (rc == 0)
		return (n);
	ynode_free(n);
	return (NULL);
out:
	yaml_event_delete(ev);
	ynode_free(n);
	return (NULL);
}

/* Read the next event and keep only its type (libyaml checks the order). */
static int
ybuild_skip(struct ybuild *b, yaml_event_type_t *type)
{
	yaml_event_t	 ev;

	if (ybuild_next(b, &ev) != 0)
		return (-1);
	*type = ev.type;
	yaml_event_delete(&ev);
	return (0);
}

/* stream-start [document-start node document-end] stream-end */
static int
ybuild_stream(struct ybuild *b, struct ydoc *doc)
{
	yaml_event_t		 ev;
	yaml_event_type_t	 type;

	if (ybuild_skip(b, &type) != 0 || ybuild_skip(b, &type) != 0)
		return (-1);
	if (type == YAML_STREAM_END_EVENT)
		return (0);
	if (ybuild_next(b, &ev) != 0)
		return (-1);
	if ((doc->root = ybuild_node(b, &ev, 0)) == NULL)
		return (-1);
	if (ybuild_skip(b, &type) != 0 || ybuild_next(b, &ev) != 0)
		return (-1);
	if (ev.type != YAML_STREAM_END_EVENT) {
		xasprintf(b->cause, "%s:%zu:%zu: only one YAML document is "
		    "allowed", b->file, ev.start_mark.line + 1,
		    ev.start_mark.column + 1);
		yaml_event_delete(&ev);
		return (-1);
	}
	yaml_event_delete(&ev);
	return (0);
}

struct ydoc *
ydoc_parse_buffer(const char *name, const char *buf, size_t len,
    char **cause)
{
	struct ybuild	 b;
	struct ydoc	*doc;
	int		 rc;

	doc = xcalloc(1, sizeof *doc);
	doc->file = xstrdup(name);
	memset(&b, 0, sizeof b);
	b.file = doc->file;
	b.buf = buf;
	b.len = len;
	b.cause = cause;
	if (!yaml_parser_initialize(&b.parser))
		fatalx("libyaml: cannot initialise parser");
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)buf,
	    len);
	rc = ybuild_stream(&b, doc);
	yaml_parser_delete(&b.parser);
	if (rc != 0) {
		ydoc_free(doc);
		return (NULL);
	}
	return (doc);
}

/* Read the whole file first: one error path, and a size cap. */
struct ydoc *
ydoc_parse_file(const char *path, char **cause)
{
	FILE		*f;
	char		*buf;
	size_t		 len;
	struct ydoc	*doc;

	if ((f = fopen(path, "r")) == NULL) {
		xasprintf(cause, "%s: cannot open: %s", path, strerror(errno));
		return (NULL);
	}
	buf = xmalloc(YNODE_MAX_FILE + 1);
	len = fread(buf, 1, YNODE_MAX_FILE + 1, f);
	if (ferror(f)) {
		xasprintf(cause, "%s: cannot read: %s", path, strerror(errno));
		doc = NULL;
	} else if (len > YNODE_MAX_FILE) {
		xasprintf(cause, "%s: file too large (more than %d bytes)",
		    path, YNODE_MAX_FILE);
		doc = NULL;
	} else
		doc = ydoc_parse_buffer(path, buf, len, cause);
	fclose(f);
	free(buf);
	return (doc);
}

void
ydoc_free(struct ydoc *doc)
{
	if (doc == NULL)
		return;
	ynode_free(doc->root);
	free(doc->file);
	free(doc);
}

const struct ynode *
ynode_get(const struct ynode *map, const char *key)
{
	int	 i;

	if (map == NULL || map->type != YNODE_MAPPING)
		return (NULL);
	for (i = 0; i < map->npairs; i++) {
		if (strcmp(map->pairs[i].key->value, key) == 0)
			return (map->pairs[i].value);
	}
	return (NULL);
}

const char *
ynode_type_name(const struct ynode *n)
{
	switch (n->type) {
	case YNODE_MAPPING:
		return ("mapping");
	case YNODE_SEQUENCE:
		return ("sequence");
	case YNODE_SCALAR:
		break;
	}
	return (n->null ? "empty value" : "scalar");
}

static const char *
where_or_top(const char *where)
{
	return (where != NULL && *where != '\0' ? where : "top level");
}

int
ynode_scalar(const struct ynode *n, const char *where, char **cause)
{
	if (n->type == YNODE_SCALAR)
		return (0);
	return (ynode_error(n, cause, "%s: expected a single value, got a %s",
	    where_or_top(where), ynode_type_name(n)));
}

int
ynode_mapping(const struct ynode *n, const char *where, char **cause)
{
	if (n->type == YNODE_MAPPING)
		return (0);
	return (ynode_error(n, cause, "%s: expected a mapping, got a%s %s",
	    where_or_top(where), n->type == YNODE_SCALAR && n->null ? "n" : "",
	    ynode_type_name(n)));
}

int
ynode_sequence(const struct ynode *n, const char *where, char **cause)
{
	if (n->type == YNODE_SEQUENCE)
		return (0);
	return (ynode_error(n, cause, "%s: expected a sequence, got a%s %s",
	    where_or_top(where), n->type == YNODE_SCALAR && n->null ? "n" : "",
	    ynode_type_name(n)));
}

/* "providers.runpod" + "max_price" -> "providers.runpod.max_price". */
char *
ynode_where(const char *where, const char *key)
{
	if (where == NULL || *where == '\0')
		return (xstrdup(key));
	return (xprintf("%s.%s", where, key));
}

static const struct yfield *
ytable_find(const struct yfield *tab, const char *key)
{
	for (; tab->key != NULL; tab++) {
		if (strcmp(tab->key, key) == 0)
			return (tab);
	}
	return (NULL);
}

static int
ytable_unknown(const struct yfield *tab, const struct ynode *key,
    const char *where, char **cause)
{
	const char	*cands[64], *near;
	size_t		 n = 0;
	char		*in = NULL, *hint = NULL;
	int		 rc;

	for (; tab->key != NULL && n < nitems(cands); tab++)
		cands[n++] = tab->key;
	if ((near = suggest_nearest(key->value, cands, n)) != NULL)
		hint = xprintf(" (did you mean '%s'?)", near);
	if (where != NULL && *where != '\0')
		in = xprintf(" in '%s'", where);
	rc = ynode_error(key, cause, "unknown key '%s'%s%s", key->value,
	    in != NULL ? in : "", hint != NULL ? hint : "");
	free(in);
	free(hint);
	return (rc);
}

static int
parse_bool(const char *s, int *v, char **why)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	size_t	 i;

	for (i = 0; i < nitems(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = 1;
			return (0);
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = 0;
			return (0);
		}
	}
	xasprintf(why, "invalid boolean '%s' (use true or false)", s);
	return (-1);
}

static int
parse_enum(const struct yfield *f, const char *s, int *v, char **why)
{
	const char	*near;
	char		*list = NULL, *tmp;
	size_t		 i;

	for (i = 0; f->choices[i] != NULL; i++) {
		if (strcmp(f->choices[i], s) == 0) {
			*v = (int)i;
			return (0);
		}
	}
	for (i = 0; f->choices[i] != NULL; i++) {
		tmp = list;
		list = tmp == NULL ? xstrdup(f->choices[i]) :
		    xprintf("%s, %s", tmp, f->choices[i]);
		free(tmp);
	}
	near = suggest_nearest(s, f->choices, i);
	if (near != NULL)
		xasprintf(why, "invalid value '%s' (did you mean '%s'? "
		    "expected one of: %s)", s, near, list);
	else
		xasprintf(why, "invalid value '%s' (expected one of: %s)", s,
		    list);
	free(list);
	return (-1);
}

static int
parse_bounded_duration(const struct yfield *f, const char *s, int64_t *v,
    char **why)
{
	char	*lo, *hi;

	if (parse_duration(s, v, why) != 0)
		return (-1);
	if (f->max <= f->min || (*v >= f->min && *v <= f->max))
		return (0);
	lo = format_duration(f->min);
	hi = format_duration(f->max);
	xasprintf(why, "invalid duration '%s': must be between %s and %s", s,
	    lo, hi);
	free(lo);
	free(hi);
	return (-1);
}

/* A plain decimal number (no unit, no sign) within the field's bounds. */
static int
parse_ratio(const struct yfield *f, const char *s, double *v, char **why)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(s, &end);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    !isfinite(d) || d < (double)f->min || d > (double)f->max) {
		xasprintf(why, "invalid number '%s': must be between %lld "
		    "and %lld", s, f->min, f->max);
		return (-1);
	}
	*v = d;
	return (0);
}

/* Parse one scalar text into the field at p; *why is the bare reason. */
static int
yfield_scalar(const struct yfield *f, const char *s, void *p, char **why)
{
	long long	 n;
	const char	*bad;

	switch (f->type) {
	case YF_STRING:
		if (f->check != NULL && (bad = f->check(s)) != NULL) {
			xasprintf(why, "invalid value '%s': %s", s, bad);
			return (-1);
		}
		free(*(char **)p);
		*(char **)p = xstrdup(s);
		return (0);
	case YF_BOOL:
		return (parse_bool(s, p, why));
	case YF_INT:
		if (parse_int(s, f->min, f->max, &n, why) != 0)
			return (-1);
		*(int *)p = (int)n;
		return (0);
	case YF_PORT:
		return (parse_port(s, p, why));
	case YF_DURATION:
		return (parse_bounded_duration(f, s, p, why));
	case YF_MONEY:
		return (parse_money(s, p, why));
	case YF_RATIO:
		return (parse_ratio(f, s, p, why));
	case YF_ENUM:
		return (parse_enum(f, s, p, why));
	default:
		break;
	}
	fatalx("%s: field '%s' is not a scalar", __func__, f->key);
}

static int
yfield_strlist(const struct yfield *f, const struct ynode *n,
    const char *where, void *base, char **cause)
{
	char		***list = (char ***)((char *)base + f->off);
	int		  *count = (int *)((char *)base + f->noff);
	const struct ynode *item;
	const char	  *bad;
	int		   i;

	if (n->type == YNODE_SCALAR && n->null)
		return (0);
	if (ynode_sequence(n, where, cause) != 0)
		return (-1);
	for (i = 0; i < n->nitems; i++) {
		item = n->items[i];
		if (item->type != YNODE_SCALAR || item->null)
			return (ynode_error(item, cause, "%s[%d]: expected a "
			    "string, got a %s", where, i,
			    ynode_type_name(item)));
		if (f->check != NULL && (bad = f->check(item->value)) != NULL)
			return (ynode_error(item, cause, "%s[%d]: invalid "
			    "value '%s': %s", where, i, item->value, bad));
		*list = xreallocarray(*list, *count + 1, sizeof **list);
		(*list)[(*count)++] = xstrdup(item->value);
	}
	return (0);
}

static int
yfield_env(const struct yfield *f, const struct ynode *n, const char *where,
    void *base, char **cause)
{
	struct tmpl_env **env;
	int		*count = (int *)((char *)base + f->noff);
	const struct ynode_pair *pair;
	const char	*bad;
	int		 i;

	env = (struct tmpl_env **)((char *)base + f->off);
	if (n->type == YNODE_SCALAR && n->null)
		return (0);
	if (ynode_mapping(n, where, cause) != 0)
		return (-1);
	for (i = 0; i < n->npairs; i++) {
		pair = &n->pairs[i];
		if ((bad = ycheck_env_name(pair->key->value)) != NULL)
			return (ynode_error(pair->key, cause, "%s: invalid "
			    "name '%s': %s", where, pair->key->value, bad));
		if (ynode_scalar(pair->value, where, cause) != 0)
			return (-1);
		*env = xreallocarray(*env, *count + 1, sizeof **env);
		(*env)[*count].key = xstrdup(pair->key->value);
		(*env)[*count].value = xstrdup(pair->value->null ? "" :
		    pair->value->value);
		(*env)[*count].line = pair->value->line;
		(*count)++;
	}
	return (0);
}

static int
yfield_apply(const struct yfield *f, const struct ynode *n,
    const char *where, void *base, char **cause)
{
	void	*p = (char *)base + f->off;
	char	*why = NULL;

	switch (f->type) {
	case YF_SECTION:
		return (ytable_apply(f->sub, n, where, p, cause));
	case YF_CUSTOM:
		return (f->parse(f, n, where, base, cause));
	case YF_STRLIST:
		return (yfield_strlist(f, n, where, base, cause));
	case YF_ENV:
		return (yfield_env(f, n, where, base, cause));
	default:
		break;
	}
	if (ynode_scalar(n, where, cause) != 0)
		return (-1);
	if (n->null && f->type == YF_STRING) {
		free(*(char **)p);
		*(char **)p = NULL;
		return (0);
	}
	if (n->null)
		return (ynode_error(n, cause, "%s: missing value", where));
	if (yfield_scalar(f, n->value, p, &why) != 0) {
		ynode_error(n, cause, "%s: %s", where, why);
		free(why);
		return (-1);
	}
	return (0);
}

/* Apply a mapping node to base; an empty (null) node changes nothing. */
int
ytable_apply(const struct yfield *tab, const struct ynode *map,
    const char *where, void *base, char **cause)
{
	const struct yfield	*f;
	const struct ynode_pair	*pair;
	char			*w;
	int			 i, rc;

	if (map == NULL || (map->type == YNODE_SCALAR && map->null))
		return (0);
	if (ynode_mapping(map, where, cause) != 0)
		return (-1);
	for (i = 0; i < map->npairs; i++) {
		pair = &map->pairs[i];
		if ((f = ytable_find(tab, pair->key->value)) == NULL)
			return (ytable_unknown(tab, pair->key, where, cause));
		w = ynode_where(where, f->key);
		rc = yfield_apply(f, pair->value, w, base, cause);
		free(w);
		if (rc != 0)
			return (-1);
	}
	return (0);
}

static void
ytable_default(const struct yfield *f, void *p)
{
	char	*why = NULL;

	if (f->def != NULL) {
		if (yfield_scalar(f, f->def, p, &why) != 0)
			fatalx("bad default for '%s': %s", f->key, why);
		return;
	}
	switch (f->type) {
	case YF_STRING:
		*(char **)p = NULL;
		break;
	case YF_DURATION:
		*(int64_t *)p = f->defnum;
		break;
	case YF_MONEY:
	case YF_RATIO:
		*(double *)p = (double)f->defnum;
		break;
	default:
		*(int *)p = (int)f->defnum;
		break;
	}
}

void
ytable_defaults(const struct yfield *tab, void *base)
{
	void	*p;

	for (; tab->key != NULL; tab++) {
		p = (char *)base + tab->off;
		switch (tab->type) {
		case YF_SECTION:
			ytable_defaults(tab->sub, p);
			break;
		case YF_CUSTOM:
			break;
		case YF_STRLIST:
		case YF_ENV:
			*(void **)p = NULL;
			*(int *)((char *)base + tab->noff) = 0;
			break;
		default:
			ytable_default(tab, p);
			break;
		}
	}
}

/* Free what the table's fields own; YF_CUSTOM fields are the caller's. */
void
ytable_free(const struct yfield *tab, void *base)
{
	void		*p;
	char	       **list;
	struct tmpl_env	*env;
	int		 i, n;

	for (; tab->key != NULL; tab++) {
		p = (char *)base + tab->off;
		if (tab->type == YF_SECTION)
			ytable_free(tab->sub, p);
		else if (tab->type == YF_STRING) {
			free(*(char **)p);
			*(char **)p = NULL;
		} else if (tab->type == YF_STRLIST || tab->type == YF_ENV) {
			n = *(int *)((char *)base + tab->noff);
			if (tab->type == YF_STRLIST) {
				list = *(char ***)p;
				for (i = 0; i < n; i++)
					free(list[i]);
			} else {
				env = *(struct tmpl_env **)p;
				for (i = 0; i < n; i++) {
					free(env[i].key);
					free(env[i].value);
				}
			}
			free(*(void **)p);
			*(void **)p = NULL;
			*(int *)((char *)base + tab->noff) = 0;
		}
	}
}

const char *
ycheck_env_name(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (i > 0 && s[i] >= '0' && s[i] <= '9'))
			continue;
		return ("not a valid environment variable name");
	}
	if (i == 0)
		return ("empty name");
	return (NULL);
}

const char *
ycheck_url(const char *s)
{
	if ((strncmp(s, "http://", 7) == 0 && s[7] != '\0') ||
	    (strncmp(s, "https://", 8) == 0 && s[8] != '\0'))
		return (NULL);
	return ("must start with http:// or https://");
}

const char *
ycheck_path(const char *s)
{
	if (s[0] == '/')
		return (NULL);
	return ("must start with '/'");
}

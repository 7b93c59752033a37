/* yamlnode.h: YAML as a tree of positioned nodes, mapped by field tables. */
#ifndef YAMLNODE_H
#define YAMLNODE_H

#include <stddef.h>

/* Files bigger than this are not configuration. */
#define YNODE_MAX_FILE	(1024 * 1024)
/* Nesting deeper than this is an attack or an accident. */
#define YNODE_MAX_DEPTH	64

enum ynode_type { YNODE_SCALAR, YNODE_MAPPING, YNODE_SEQUENCE };

struct ynode_pair;

struct ynode {
	enum ynode_type	 type;
	const char	*file;		/* owned by the ydoc */
	int		 line;		/* 1-based */
	int		 col;		/* 1-based */

	char		*value;		/* scalar text */
	int		 null;		/* plain "", "~" or "null" */

	struct ynode_pair *pairs;	/* mapping, in file order */
	int		 npairs;
	struct ynode   **items;		/* sequence */
	int		 nitems;
};

struct ynode_pair {
	struct ynode	*key;		/* always a scalar */
	struct ynode	*value;
};

struct ydoc {
	char		*file;		/* name used in messages */
	struct ynode	*root;		/* NULL for an empty document */
};

struct ydoc	*ydoc_parse_file(const char *path, char **cause);
struct ydoc	*ydoc_parse_buffer(const char *name, const char *buf,
		    size_t len, char **cause);
void		 ydoc_free(struct ydoc *);

const struct ynode *ynode_get(const struct ynode *map, const char *key);
const char	*ynode_type_name(const struct ynode *);
int		 ynode_error(const struct ynode *, char **cause,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * A field table maps the keys of one YAML mapping onto one C struct, like
 * tmux's options-table.c. Defaults are written as the text a user would
 * type and go through the same parser, so the table is also the reference.
 */
enum yfield_type {
	YF_STRING,	/* char *; plain null leaves it NULL */
	YF_BOOL,	/* int: true/false/yes/no/on/off */
	YF_INT,		/* int within [min, max] */
	YF_PORT,	/* int, 1..65535 */
	YF_DURATION,	/* int64_t seconds; [min, max] if max > min */
	YF_MONEY,	/* double dollars */
	YF_RATIO,	/* double, a plain number within [min, max] */
	YF_ENUM,	/* int: index into choices */
	YF_STRLIST,	/* char ** at off, int count at noff */
	YF_ENV,		/* struct tmpl_env * at off, int count at noff */
	YF_SECTION,	/* nested mapping into the struct at off, via sub */
	YF_CUSTOM,	/* parse() does it all */
};

struct yfield;

typedef int (*yfield_parse_cb)(const struct yfield *, const struct ynode *,
    const char *where, void *base, char **cause);

struct yfield {
	const char		*key;
	enum yfield_type	 type;
	size_t			 off;
	size_t			 noff;		/* count, for lists */
	long long		 min;
	long long		 max;
	const char		*def;		/* default as typed, or NULL */
	long long		 defnum;	/* numeric default if no def */
	const char *const	*choices;	/* YF_ENUM, NULL-terminated */
	const struct yfield	*sub;		/* YF_SECTION; YF_CUSTOM: the
						   keys it holds, for docs */
	const char		*(*check)(const char *); /* reason or NULL */
	yfield_parse_cb		 parse;		/* YF_CUSTOM */
	const char		*help;
};

void	 ytable_defaults(const struct yfield *, void *base);
int	 ytable_apply(const struct yfield *, const struct ynode *,
	    const char *where, void *base, char **cause);
void	 ytable_free(const struct yfield *, void *base);

int	 ynode_scalar(const struct ynode *, const char *where, char **cause);
int	 ynode_mapping(const struct ynode *, const char *where, char **cause);
int	 ynode_sequence(const struct ynode *, const char *where,
	    char **cause);
char	*ynode_where(const char *where, const char *key);

/* Small checks for yfield.check. */
const char *ycheck_env_name(const char *);
const char *ycheck_url(const char *);
const char *ycheck_path(const char *);

#endif

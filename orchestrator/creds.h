/* creds.h: where each provider's API key comes from, in one order for all. */
#ifndef CREDS_H
#define CREDS_H

#include <stddef.h>

struct fleet_config;
struct fleet_driver;
struct drv_key_file;

/*
 * The lookup order, the same for every command, the daemon and its jobs:
 *
 *   1. the environment: providers.NAME.api_key_env in fleet.yaml, else the
 *      driver's key_env (RUNPOD_API_KEY, ...);
 *   2. fleet's credentials file, creds_path(): $XDG_CONFIG_HOME/fleet/
 *      credentials, default ~/.config/fleet/credentials. It must be a
 *      regular file owned by this user with no group or other bits (0600
 *      or 0400); anything else is refused, naming the `chmod 600 PATH` to
 *      run, because a key others can read is a key others can spend;
 *   3. last, the key file of the provider's own CLI, as its driver
 *      declares it (fleet_driver.cli_key_files: runpodctl, vastai).
 *
 * The first source with a non-empty key wins and later ones are not read,
 * so a loose credentials file only matters to a provider whose key is not
 * in the environment. A missing file is no error: it has no keys.
 *
 * The credentials file holds one `PROVIDER = KEY` per line; blank lines
 * and lines starting with '#' are kept as they are. It is parsed strictly:
 * an unknown provider, a provider twice, an empty key or a key with
 * spaces is an error naming FILE:LINE. Keys are never printed or logged;
 * every key read is passed to log_add_secret().
 */

enum creds_source {
	CREDS_NONE,		/* no key anywhere */
	CREDS_ENV,		/* where: the variable's name */
	CREDS_FILE,		/* where: the credentials file */
	CREDS_CLI,		/* where: the CLI's key file */
};

struct creds_key {
	enum creds_source	 source;
	char			*where;	/* see above; NULL for CREDS_NONE */
	const char		*cli;	/* CREDS_CLI: the CLI's name */
	char			*key;	/* NULL for CREDS_NONE */
};

/* One `PROVIDER = KEY` line of the credentials file. */
struct creds_entry {
	char		*provider;
	char		*key;
	int		 line;
};

#define CREDS_FILE_MAX	(64 * 1024)	/* a bigger file is not ours */
#define CREDS_KEY_MAX	4096

/* $XDG_CONFIG_HOME/fleet/credentials (or ~/.config/...); caller frees. */
char	*creds_path(void);
/* The variable a provider's key is read from: fleet.yaml, else driver. */
const char *creds_env_name(const struct fleet_driver *,
	    const struct fleet_config *);

#define CREDS_SKIP_ENV	0x1	/* only the files (the daemon's SIGHUP) */

/*
 * Look a provider's key up in the order above. 0 with k filled (source
 * CREDS_NONE when there is none); -1 and *cause when a file that had to be
 * read is refused or malformed. Clear k with creds_key_clear.
 */
int	 creds_lookup(const struct fleet_driver *, const struct fleet_config *,
	    int flags, struct creds_key *k, char **cause);
void	 creds_key_clear(struct creds_key *);
/* "env RUNPOD_API_KEY", "credentials file PATH", "runpodctl file PATH". */
char	*creds_source_text(const struct creds_key *);
/* "env", "file", "cli" or "none". */
const char *creds_source_name(enum creds_source);

/*
 * The key for one provider as the drivers use it: looked up, then set as
 * its environment variable when it came from a file, so this process's
 * driver calls, the keys a command hands the daemon (control_send_keys)
 * and the daemon's child jobs all see the same key. Returns the borrowed
 * value (NULL when there is none, cause NULL) or NULL with *cause.
 */
const char *creds_export(const struct fleet_driver *,
	    const struct fleet_config *, enum creds_source *, char **cause);

/* The credentials file itself (cmd-auth.c and the tests). */
int	 creds_file_read(const char *path, struct creds_entry **, size_t *,
	    char **cause);	/* missing file: 0 entries */
void	 creds_entries_free(struct creds_entry *, size_t);
/* Parse a buffer as the file (name for messages); no mode checks. */
int	 creds_parse(const char *name, const char *buf, size_t len,
	    struct creds_entry **, size_t *, char **cause);
/* Set or replace one key; atomic: a 0600 temp file renamed over it. */
int	 creds_file_set(const char *path, const char *provider,
	    const char *key, char **cause);
/* Remove one key; *removed says whether it was there. */
int	 creds_file_remove(const char *path, const char *provider,
	    int *removed, char **cause);
/* Is this a key fleet can store (non-empty, printable, no spaces)? */
int	 creds_key_valid(const char *key, char **cause);

/* A provider CLI's key file: 1 and *key, 0 when absent, -1 on error. */
int	 creds_cli_read(const struct drv_key_file *, char **path, char **key,
	    char **cause);

#endif

/* fleet.h: the orchestrator's shared declarations (read this header first). */
#ifndef FLEET_H
#define FLEET_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FLEET_VERSION "0.1.0"

/* Exit codes, documented in docs/fleet.1. */
#define FLEET_EXIT_OK		0	/* success */
#define FLEET_EXIT_FAIL		1	/* operational failure */
#define FLEET_EXIT_USAGE	2	/* usage, config or template error */
#define FLEET_EXIT_INTR		130	/* Ctrl-C, as a shell reports it */

#ifndef __unused
#define __unused __attribute__((unused))
#endif
#define nitems(a) (sizeof(a) / sizeof((a)[0]))

struct fleet_config;
struct fleet_template;
struct cmd_ctx;
struct state;

/* xmalloc.c: allocation that aborts on failure, never returns NULL. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 xvasprintf(char **, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
char	*xprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 freezero_str(char *);

/* log.c: levels, secret redaction, escaped untrusted text. */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
void	 log_init(const char *progname, int verbosity, FILE *out);
void	 log_set_file(FILE *);
int	 log_level(void);
void	 log_add_secret(const char *);
char	*log_redact(const char *);
void	 log_msg(enum log_level, const char *func, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
#define log_error(...)	log_msg(LOG_ERROR, __func__, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __func__, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __func__, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __func__, __VA_ARGS__)

/* parse.c: strict parsers for durations, money and ports. */
int	 parse_duration(const char *, int64_t *secs, char **cause);
int	 parse_money(const char *, double *usd, char **cause);
int	 parse_port(const char *, int *port, char **cause);
int	 parse_int(const char *, long long min, long long max, long long *,
	    char **cause);
char	*format_duration(int64_t secs);
char	*format_money(double usd);
#define MONEY_BUFSZ	32
const char *money_fmt(char *buf, double usd);	/* buf has MONEY_BUFSZ */
int	 name_is_valid(const char *);

/* util.c: small helpers shared by commands. */
int64_t	 now_wall(void);		/* seconds since the epoch */
int64_t	 now_wall_ms(void);		/* milliseconds since the epoch */
int64_t	 now_mono_ms(void);		/* monotonic milliseconds */
int	 port_is_free(const char *addr, int port);
int	 port_pick_free(const char *addr);
char	*self_exe(void);
void	 json_print_string(FILE *, const char *);
char	*format_time(int64_t epoch);
int	 is_tty(FILE *);
int	 mkdir_p(const char *, int mode);
char	*state_dir_default(void);
/* The nearest of cands to word by edit distance, or NULL if none is close. */
const char *suggest_nearest(const char *word, const char *const *cands,
	    size_t ncands);

/* deploy.c: provider work shared by up, down and (later) daemon jobs. */
struct fleet_driver;
struct drv_ctx;
struct st_deployment;
struct st_instance;
int	 deploy_driver(struct cmd_ctx *, const char *provider,
	    const struct fleet_driver **, struct drv_ctx *, char **cause);
int	 deploy_resolve_id(struct cmd_ctx *, struct st_instance *,
	    char **cause);
int	 deploy_terminate(struct cmd_ctx *, const struct st_deployment *,
	    struct st_instance *, const char *reason, char **cause);
char	*deploy_stable_url(struct cmd_ctx *, const struct st_deployment *);
struct drv_instance;
int	 deploy_record(struct cmd_ctx *, const struct fleet_template *,
	    struct st_instance *, const struct drv_instance *, char **cause);
int	 deploy_probe(struct cmd_ctx *, const struct fleet_template *,
	    const struct st_instance *, char **cause);
int64_t	 deploy_kill_in(const struct st_deployment *,
	    const struct st_instance *, int64_t now, const char **why);

/* health.c: one readiness probe of a template's health check. */
int	 health_probe(const struct fleet_template *, const char *upstream,
	    char **cause);

/* cmd.c: command table entry and the context every command gets. */
struct cmd_ctx {
	const char		*config_path;	/* --config, or NULL */
	int			 verbosity;
	struct fleet_config	*conf;		/* loaded on demand */
	struct state		*st;		/* opened on demand */
	char			*state_dir;	/* where st lives */
};

struct cmd_entry {
	const char	*name;
	const char	*usage;		/* one line of arguments */
	const char	*summary;	/* one line for `fleet help` */
	const char	*help;		/* body of `fleet CMD --help` */
	int		 (*exec)(struct cmd_ctx *, int, char **);
	int		 hidden;
};

extern const struct cmd_entry *cmd_table[];
const struct cmd_entry *cmd_find(const char *);
int	 cmd_usage_error(const struct cmd_entry *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 cmd_wants_help(int, char **);
int	 cmd_print_help(const struct cmd_entry *);
/* The --options a command's usage and help name (caller frees each). */
int	 cmd_long_options(const struct cmd_entry *, char ***);
/* After a usage error: "did you mean" for an unknown --option in argv. */
void	 cmd_option_hint(const struct cmd_entry *, int, char **);
/*
 * A driver's message without its own "PROVIDER: " prefix, for callers
 * that say the provider first: "runpod: HTTP 401", never twice.
 */
const char *cmd_drv_msg(const char *provider, const char *msg);
/* "fleet: unknown command 'x' (did you mean 'y'?)" on stderr. */
void	 cmd_unknown_command(const char *who, const char *);
/* "unknown provider 'x' (did you mean 'y'?)", the caller's to free. */
char	*cmd_unknown_provider(const char *);
int	 cmd_load_config(struct cmd_ctx *);
int	 cmd_state_dir(struct cmd_ctx *);
int	 cmd_open_state(struct cmd_ctx *);
struct st_deployment;
int	 cmd_deployment(struct cmd_ctx *, const struct cmd_entry *,
	    const char *, struct st_deployment *);
void	 cmd_ctx_free(struct cmd_ctx *);
struct ssh_sess;
struct st_instance;
struct ssh_sess *cmd_ssh_open(struct cmd_ctx *, const struct cmd_entry *,
	    const struct st_deployment *, struct st_instance *);

/* cmd-down.c: take one deployment down (also for rm --force, up --replace). */
int	 cmd_down_one(struct cmd_ctx *, struct st_deployment *, const char *);

extern const struct cmd_entry cmd_up_entry;
extern const struct cmd_entry cmd_rm_entry;
extern const struct cmd_entry cmd_completion_entry;
extern const struct cmd_entry cmd_down_entry;
extern const struct cmd_entry cmd_ls_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_url_entry;
extern const struct cmd_entry cmd_templates_entry;
extern const struct cmd_entry cmd_doctor_entry;
extern const struct cmd_entry cmd_version_entry;
extern const struct cmd_entry cmd_help_entry;
extern const struct cmd_entry cmd_echo_server_entry;
extern const struct cmd_entry cmd_daemon_entry;
extern const struct cmd_entry cmd_offers_entry;
extern const struct cmd_entry cmd_cost_entry;
extern const struct cmd_entry cmd_reconcile_entry;
extern const struct cmd_entry cmd_reap_entry;
extern const struct cmd_entry cmd_keep_entry;
extern const struct cmd_entry cmd_stop_entry;
extern const struct cmd_entry cmd_start_entry;
extern const struct cmd_entry cmd_ssh_entry;
extern const struct cmd_entry cmd_logs_entry;
extern const struct cmd_entry cmd_auth_entry;

#endif

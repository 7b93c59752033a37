/* config.h: fleet.yaml and templates/NAME.yaml as structs. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum idle_action { IDLE_ACTION_TERMINATE, IDLE_ACTION_STOP };
/* on_vanish: what the reconciler does when the provider lost the instance. */
enum vanish_action { VANISH_RECREATE, VANISH_DOWN };

struct tmpl_env {
	char		*key;
	char		*value;
	int		 line;		/* of the value; 0 unknown */
};

/* What template_check_vars looks at: what the chosen providers expand. */
#define TMPL_VARS_ENV	0x1	/* env: cloud containers */
#define TMPL_VARS_LOCAL	0x2	/* local.env: the local stand-in */
#define TMPL_VARS_ALL	(TMPL_VARS_ENV | TMPL_VARS_LOCAL)

/* One entry under `providers:` (runpod, lambda, vast, paperspace, local). */
struct provider_conf {
	char		*name;
	int		 enabled;	/* default 1 */
	char		*base_url;	/* NULL = the provider's default */
	char		*api_key_env;	/* env var holding the key */
	char		*ssh_key_name;	/* provider-side ssh key name */
	char		*region;	/* preferred region, or NULL */
	double		 max_price;	/* 0 = no provider-level cap */
	double		 min_reliability;	/* vast: host floor, 0 = default */
	int		 verified;	/* vast: verified hosts only */
	char		*prices;	/* paperspace: "TYPE=USD,..." */
	char		*ssh_user;	/* NULL = the driver's default */
	int		 line;		/* where it was declared, 0 = default */
};

struct fleet_config {
	char		*path;		/* file it came from, or NULL */

	struct provider_conf *providers;
	int		 nproviders;

	struct {
		int64_t		 idle_timeout;	/* seconds, 0 = off */
		int64_t		 max_lifetime;	/* seconds, 0 = off */
		enum idle_action idle_action;
		double		 max_price;	/* $/h, 0 = no cap */
		double		 failover_max_ratio;	/* default 2.0 */
		double		 confirm_above_usd;	/* default 1.00 */
	} defaults;

	struct {
		double		 daily_usd;	/* 0 = no cap */
		double		 monthly_usd;
	} budget;

	struct {
		char		*bind;		/* default 127.0.0.1 */
		int		 shared_port;	/* default 7070 */
		int		 port_min;	/* default 8900 */
		int		 port_max;	/* default 8999 */
		int64_t		 hold_timeout;	/* seconds, default 60 */
		char		*token;		/* bearer token, or NULL */
		int		 max_header_bytes;	/* default 65536 */
		int64_t		 body_timeout;	/* seconds, default 60 */
		int64_t		 upstream_timeout;	/* seconds, def 300 */
		char	       **allowed_hosts;	/* Host names served too */
		int		 nallowed_hosts;
	} proxy;

	struct {
		int64_t		 watch_interval;	/* seconds, default 5 */
		int64_t		 reconcile_interval;	/* seconds, def 60 */
		int		 reap;		/* 0 report, 1 auto */
	} daemon;

	struct {
		char		*key;		/* private key; NULL = agent */
		char		*known_hosts;	/* NULL = STATE/known_hosts */
		int64_t		 connect_timeout;	/* seconds, def 10 */
		int64_t		 keepalive;	/* seconds, default 15 */
		int64_t		 gpu_sample_interval;	/* def 30, 0 off */
	} ssh;

	char		*state;		/* dir, or NULL = default */
	char	       **template_dirs;	/* extra dirs searched first */
	int		 ntemplate_dirs;
};

enum port_proto { PORT_HTTP, PORT_WS, PORT_TCP };

struct tmpl_port {
	int		 number;
	enum port_proto	 proto;
	int		 stable;	/* the one behind the stable URL */
};

enum health_kind { HEALTH_HTTP, HEALTH_TCP, HEALTH_WS, HEALTH_SSH };

struct tmpl_health {
	enum health_kind kind;
	char		*path;		/* http/ws path, default "/" */
	char		*command;	/* ssh command */
	int		 port;		/* default: the stable port */
	int64_t		 interval;	/* seconds between probes, def 2 */
	int64_t		 timeout;	/* per probe, default 5 */
	int64_t		 boot_timeout;	/* give up after, default 900 */
};


struct fleet_template {
	char		*name;
	char		*description;
	char		*path;		/* file it came from */

	struct {
		int		 min_vram_gb;
		char	       **models;	/* acceptable GPU models */
		int		 nmodels;
		int		 count;		/* default 1 */
		int		 count_max;	/* 0 = exactly count */
	} gpu;

	char		*image;
	char	       **args;
	int		 nargs;
	struct tmpl_env	*env;
	int		 nenv;
	int		 disk_gb;	/* default 50 */

	struct tmpl_port *ports;
	int		 nports;
	struct tmpl_health health;

	char	       **providers;	/* preference order, may be empty */
	int		 nproviders;
	double		 max_price;	/* 0 = config default */

	int64_t		 idle_timeout;	/* -1 = config default */
	int64_t		 max_lifetime;	/* -1 = config default */
	int		 idle_action;	/* -1 = config default */
	int		 idle_gpu_percent;	/* default 5 */
	int		 wake_on_request;
	int		 spot;		/* interruptible capacity */
	int		 stable_port;	/* 0 = allocate */
	int		 tunnel;	/* reach the service over ssh */
	char		*log_file;	/* workload log on the instance */
	int64_t		 deadman_timeout;	/* seconds, 0 = off */
	int		 on_vanish;	/* enum vanish_action */
	int		 max_recreates;	/* per rolling 24h, default 3 */

	struct {
		char		*command;	/* {port} is substituted */
		struct tmpl_env	*env;
		int		 nenv;
	} local;
};

/* config.c */
struct fleet_config *config_load(const char *explicit_path, char **cause);
struct fleet_config *config_load_file(const char *path, char **cause);
struct fleet_config *config_default(void);
void		 config_free(struct fleet_config *);
const struct provider_conf *config_provider(const struct fleet_config *,
		    const char *name);
char		*config_find_path(const char *explicit_path);
struct fleet_config *config_load_buffer(const char *name, const char *buf,
		    size_t len, char **cause);
char		*config_user_dir(void);
extern const char *const config_provider_names[];	/* NULL-terminated */

struct yfield;
const struct yfield *config_table(void);

/* template.c */
struct fleet_template *template_load_file(const char *path, char **cause);
struct fleet_template *template_find(const struct fleet_config *,
		    const char *name, char **cause);
char	       **template_list_paths(const struct fleet_config *, int *n);
void		 template_free(struct fleet_template *);
const struct tmpl_port *template_stable_port(const struct fleet_template *);
struct fleet_template *template_load_buffer(const char *path,
		    const char *buf, size_t len, char **cause);
char	       **template_search_dirs(const struct fleet_config *, int *n);
const struct yfield *template_table(void);
int		 template_check_vars(const struct fleet_template *,
		    int which, char **cause);

#endif

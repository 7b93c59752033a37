/* driver.h: one interface for every provider (read this header second). */
#ifndef DRIVER_H
#define DRIVER_H

#include <stddef.h>
#include <stdint.h>

struct fleet_config;
struct fleet_template;
struct provider_conf;

/* Typed errors: retry and failover switch on these, never on text. */
enum drv_err {
	DRV_OK = 0,
	DRV_ERR_AUTH,		/* bad or missing key */
	DRV_ERR_CAPACITY,	/* nothing to rent that fits, try another */
	DRV_ERR_QUOTA,		/* account limit or balance */
	DRV_ERR_RATE_LIMITED,
	DRV_ERR_NOT_FOUND,
	DRV_ERR_TRANSIENT,	/* network, 5xx: retry later */
	DRV_ERR_INVALID,	/* the request is wrong: do not retry */
	DRV_ERR_UNSUPPORTED,	/* e.g. stop on a provider that cannot */
};

struct drv_error {
	enum drv_err	 kind;
	int		 http_status;	/* 0 if none */
	char		 message[512];	/* the provider's own words */
};

/* Normalised instance states, shared with the state store. */
enum inst_state {
	INST_PENDING, INST_BOOTING, INST_RUNNING, INST_STOPPING,
	INST_STOPPED, INST_TERMINATED, INST_FAILED, INST_UNKNOWN
};

/*
 * port 0: the driver exposes exactly one service, whatever its number
 * (local). port -1: the host exposes every service port unchanged on
 * its public address (Lambda, Paperspace VMs): public_port is ignored
 * and the template's stable port number is used.
 */
struct drv_endpoint {
	int		 port;		/* service port inside the instance */
	char		*scheme;	/* "http", "https" or "tcp" */
	char		*host;
	int		 public_port;	/* where it is reachable */
	int		 tunnel;	/* only over ssh (closed firewall) */
};

struct drv_instance {
	char		*id;		/* provider's id */
	char		*name;		/* label: fleet-<deployment>-<n> */
	enum inst_state	 state;
	char		*gpu;
	int		 gpu_count;
	double		 price_per_hour;
	char		*region;
	struct drv_endpoint *endpoints;
	int		 nendpoints;
	char		*ssh_host;
	int		 ssh_port;
	int64_t		 created_at;	/* epoch seconds, 0 if unknown */
	double		 stopped_price_per_hour;	/* disk kept while stopped */
	int		 has_gpu_util;	/* the provider reports it */
	int		 gpu_util;	/* busiest GPU, percent */
	/*
	 * The workload is not running though the instance is still held:
	 * RunPod's pod EXITED, Vast's actual_status exited while it is
	 * meant to run, the local process gone without a terminate. While
	 * `fleet up` waits for a boot (nothing of fleet's stopped it), this
	 * means the workload failed, not the capacity: no failover.
	 */
	int		 exited;
	char		*exit_reason;	/* the provider's words, or NULL */
	char		*exit_output;	/* its last output lines, or NULL */
};

struct drv_offer {
	char		*provider;
	char		*offer_id;	/* provider's id for create */
	char		*gpu;
	int		 gpu_count;
	int		 vram_gb;
	double		 price_per_hour;
	char		*region;
	int		 available;	/* units available, -1 unknown */
	int		 spot;
};

/* What a driver call may use: config, its key, where its API is. */
struct drv_ctx {
	const struct fleet_config	*conf;
	const struct provider_conf	*pconf;	/* may be NULL */
	const char			*api_key;	/* NULL if none */
	const char			*base_url;
	const char			*state_dir;
	int				 spot;	/* offers: interruptible */
};

struct drv_create_req {
	const struct fleet_template	*tmpl;
	const char			*name;	/* label to give it */
	const struct drv_offer		*offer;	/* NULL: driver chooses */
	int				 spot;
	double				 bid;
};

/*
 * The account behind a key, as `fleet doctor` shows it: what one
 * authenticated read-only call says. Each has_ flag says whether the
 * provider gave that value; amounts are USD. The provider's own spend
 * limit is a cap on spend per limit_secs (RunPod: per hour, 3600), so a
 * caller compares like with like.
 */
struct drv_account {
	char		*who;		/* email or id, NULL if not given */
	int		 has_balance;
	double		 balance;	/* credit left */
	int		 has_limit;
	double		 limit;		/* the provider's cap, per limit_secs */
	int		 limit_secs;
	int		 has_spend;
	double		 spend_per_hour;	/* spent per hour now */
};

/* An account call is a check, not work: short, and never retried. */
#define DRV_ACCOUNT_TIMEOUT_MS	10000

#define DRV_CAN_STOP	0x1	/* stop/start keep the instance */
#define DRV_NEEDS_KEY	0x2	/* needs an API key */
#define DRV_LOCAL	0x4	/* runs on this machine */
#define DRV_DEADMAN	0x8	/* create starts the dead-man watcher when
				   the template sets deadman_timeout */

/*
 * The key file of a provider's own CLI, read last by the key lookup
 * (orchestrator/creds.h): declared here, next to the driver, so nothing
 * outside drivers/ names a provider. path starts with "~/" ($HOME) or
 * "$XDG_CONFIG_HOME/" (that variable, else ~/.config). docs/providers.md
 * says where each path and format was checked.
 */
enum drv_keyfile_format {
	DRV_KEYFILE_PLAIN,	/* the whole file is the key */
	DRV_KEYFILE_TOML,	/* a top-level `field = "KEY"` line */
};

struct drv_key_file {
	const char		*cli;	/* "runpodctl", for messages */
	const char		*path;	/* NULL ends a list */
	enum drv_keyfile_format	 format;
	const char		*field;	/* TOML key, matched ignoring case */
};

struct fleet_driver {
	const char	*name;
	int		 flags;
	const char	*key_env;	/* default api-key env var */
	const char	*url_env;	/* env var overriding base_url */
	const char	*default_url;
	const char	*ssh_user;	/* who fleet logs in as, NULL = no ssh */
	const char	*container;	/* docker name of the workload on the
					   host ssh reaches, NULL = none */
	const struct drv_key_file *cli_key_files;	/* NULL = none, else
					   ended by a NULL path */

	int	(*offers)(const struct drv_ctx *, const struct fleet_template *,
		    struct drv_offer **, size_t *, struct drv_error *);
	int	(*create)(const struct drv_ctx *, const struct drv_create_req *,
		    struct drv_instance *, struct drv_error *);
	int	(*get)(const struct drv_ctx *, const char *id,
		    struct drv_instance *, struct drv_error *);
	int	(*list)(const struct drv_ctx *, struct drv_instance **,
		    size_t *, struct drv_error *);
	int	(*stop)(const struct drv_ctx *, const char *id,
		    struct drv_error *);
	int	(*start)(const struct drv_ctx *, const char *id,
		    struct drv_error *);
	int	(*terminate)(const struct drv_ctx *, const char *id,
		    struct drv_error *);
	/*
	 * One authenticated read-only call (fleet doctor). DRV_ERR_AUTH
	 * means the key was refused; NULL: the provider needs no key.
	 */
	int	(*account)(const struct drv_ctx *, struct drv_account *,
		    struct drv_error *);
};

extern const struct fleet_driver *driver_table[];

/* driver.c: lookup, context and result helpers. */
const struct fleet_driver *driver_find(const char *);
int	 driver_ctx_init(struct drv_ctx *, const struct fleet_driver *,
	    const struct fleet_config *, const char *state_dir, char **cause);
const char *drv_err_name(enum drv_err);
const char *drv_key_env(const struct drv_ctx *, const struct fleet_driver *);
int	 driver_deadman_ok(const struct fleet_driver *, char **cause);
const char *inst_state_name(enum inst_state);
int	 inst_state_parse(const char *, enum inst_state *);
int	 inst_state_bills(enum inst_state);
int	 drv_error_set(struct drv_error *, enum drv_err, int http_status,
	    const char *, ...) __attribute__((format(printf, 4, 5)));
void	 drv_instance_clear(struct drv_instance *);
void	 drv_instance_list_free(struct drv_instance *, size_t);
void	 drv_offer_clear(struct drv_offer *);
void	 drv_account_clear(struct drv_account *);
void	 drv_offer_list_free(struct drv_offer *, size_t);
char	*drv_instance_upstream(const struct drv_instance *,
	    const struct fleet_template *);
struct cJSON;
const char *drv_json_str(const struct cJSON *, const char *key);
int	 drv_env_subst(const char *value, char **out, char **cause);
char	*drv_env_expand(const char *value);
char	*drv_text_clean(const char *, size_t len, int keep_newlines);
char	*drv_label(const char *deployment, int64_t instance_id);

/* gpu-name.c: the one name fleet shows for a GPU model (caller frees). */
char	*drv_gpu_name(const char *raw, int vram_gb);
int	 drv_label_parse(const char *label, char **deployment,
	    int64_t *instance_id);

extern const struct fleet_driver driver_lambda;
extern const struct fleet_driver driver_runpod;
extern const struct fleet_driver driver_paperspace;
extern const struct fleet_driver driver_vast;
extern const struct fleet_driver driver_local;

#endif

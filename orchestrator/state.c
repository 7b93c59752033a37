/* state.c: SQLite store (WAL) for deployments, instances, events, ledger. */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fleet.h"
#include "state.h"

struct state {
	sqlite3		*db;
	char		*path;
	int		 in_tx;
};

/* Migrations: entry N brings the schema from version N to N+1. */
static const char *state_migrations[] = {
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE deployments ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" template TEXT NOT NULL,"
	" desired TEXT NOT NULL DEFAULT 'up',"
	" stable_port INTEGER UNIQUE,"
	" idle_timeout INTEGER NOT NULL DEFAULT 0,"
	" max_lifetime INTEGER NOT NULL DEFAULT 0,"
	" idle_action INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE TABLE instances ("
	" id INTEGER PRIMARY KEY,"
	" deployment_id INTEGER NOT NULL REFERENCES deployments(id),"
	" provider TEXT NOT NULL,"
	" provider_id TEXT,"
	" label TEXT NOT NULL UNIQUE,"
	" state TEXT NOT NULL,"
	" gpu TEXT,"
	" price_per_hour REAL NOT NULL DEFAULT 0,"
	" upstream TEXT,"
	" ssh_host TEXT,"
	" ssh_port INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL,"
	" billing_since INTEGER NOT NULL DEFAULT 0,"
	" spent_usd REAL NOT NULL DEFAULT 0,"
	" ended_at INTEGER NOT NULL DEFAULT 0,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX instances_by_deployment ON instances(deployment_id);"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY,"
	" ts INTEGER NOT NULL,"
	" deployment TEXT,"
	" kind TEXT NOT NULL,"
	" message TEXT NOT NULL);"
	"CREATE TABLE ledger ("
	" id INTEGER PRIMARY KEY,"
	" instance_id INTEGER NOT NULL REFERENCES instances(id),"
	" deployment_id INTEGER NOT NULL,"
	" provider TEXT NOT NULL,"
	" start_ts INTEGER NOT NULL,"
	" end_ts INTEGER NOT NULL,"
	" rate REAL NOT NULL,"
	" usd REAL NOT NULL);"
	"CREATE INDEX ledger_by_time ON ledger(end_ts);"
	/* Append-only: the event log and the ledger are never rewritten. */
	"CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
	" BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
	"CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger"
	" BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;"
	"CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
	" BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
	"CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger"
	" BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END;",
	/* 2: the watchdog's memory survives daemon restarts and sleeps. */
	"ALTER TABLE deployments ADD COLUMN last_activity INTEGER NOT NULL"
	" DEFAULT 0;"
	"ALTER TABLE deployments ADD COLUMN keep_until INTEGER NOT NULL"
	" DEFAULT 0;",
	/* 3: the provider's GPU utilisation, the second idle signal. */
	"ALTER TABLE instances ADD COLUMN gpu_util INTEGER NOT NULL"
	" DEFAULT -1;"
	"ALTER TABLE instances ADD COLUMN gpu_util_at INTEGER NOT NULL"
	" DEFAULT 0;",
	/* 4: a stopped instance still pays for its disk, at its own rate. */
	"ALTER TABLE instances ADD COLUMN stopped_price REAL NOT NULL"
	" DEFAULT 0;"
	"ALTER TABLE instances ADD COLUMN billing_rate REAL NOT NULL"
	" DEFAULT 0;"
	"UPDATE instances SET billing_rate = price_per_hour"
	" WHERE billing_since > 0;",
	/* 5: when the user last said up or down (ms): the last word wins. */
	("ALTER TABLE deployments ADD COLUMN desired_at INTEGER NOT NULL"
	" DEFAULT 0;"),
};

#define INSTANCE_COLS "id, deployment_id, provider, provider_id, label, " \
	"state, gpu, price_per_hour, upstream, ssh_host, ssh_port, " \
	"created_at, billing_since, spent_usd, ended_at, updated_at, " \
	"gpu_util, gpu_util_at, stopped_price, billing_rate"
#define DEPLOYMENT_COLS "id, name, template, desired, stable_port, " \
	"idle_timeout, max_lifetime, idle_action, created_at, updated_at, " \
	"last_activity, keep_until, desired_at"

static void
state_cause(struct state *st, char **cause, const char *what)
{
	if (cause != NULL)
		*cause = xprintf("state %s: %s: %s", st->path, what,
		    sqlite3_errmsg(st->db));
}

/*
 * Prepare sql and bind arguments described by fmt: 'i' int64, 'd' int,
 * 'f' double, 's' string (NULL binds null). Returns NULL on error.
 */
static sqlite3_stmt *
state_vprepare(struct state *st, char **cause, const char *sql,
    const char *fmt, va_list ap)
{
	sqlite3_stmt	*stmt;
	const char	*s;
	int		 i, rc = SQLITE_OK;

	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		state_cause(st, cause, "prepare");
		return (NULL);
	}
	for (i = 0; fmt != NULL && fmt[i] != '\0' && rc == SQLITE_OK; i++) {
		switch (fmt[i]) {
		case 'i':
			rc = sqlite3_bind_int64(stmt, i + 1,
			    va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_int(stmt, i + 1, va_arg(ap, int));
			break;
		case 'f':
			rc = sqlite3_bind_double(stmt, i + 1,
			    va_arg(ap, double));
			break;
		case 's':
			s = va_arg(ap, const char *);
			rc = s == NULL ? sqlite3_bind_null(stmt, i + 1) :
			    sqlite3_bind_text(stmt, i + 1, s, -1,
			    SQLITE_TRANSIENT);
			break;
		default:
			fatalx("state: bad bind format '%c'", fmt[i]);
		}
	}
	if (rc != SQLITE_OK) {
		state_cause(st, cause, "bind");
		sqlite3_finalize(stmt);
		return (NULL);
	}
	return (stmt);
}

static sqlite3_stmt *
state_prepare(struct state *st, char **cause, const char *sql,
    const char *fmt, ...)
{
	sqlite3_stmt	*stmt;
	va_list		 ap;

	va_start(ap, fmt);
	stmt = state_vprepare(st, cause, sql, fmt, ap);
	va_end(ap);
	return (stmt);
}

/* Run a statement that returns no rows. */
static int
state_exec(struct state *st, char **cause, const char *sql,
    const char *fmt, ...)
{
	sqlite3_stmt	*stmt;
	va_list		 ap;
	int		 rc;

	va_start(ap, fmt);
	stmt = state_vprepare(st, cause, sql, fmt, ap);
	va_end(ap);
	if (stmt == NULL)
		return (-1);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		state_cause(st, cause, "write");
		return (-1);
	}
	return (0);
}

static char *
col_str(sqlite3_stmt *stmt, int i)
{
	const unsigned char	*s = sqlite3_column_text(stmt, i);

	return (s == NULL ? NULL : xstrdup((const char *)s));
}

/*
 * Step a prepared statement into a growing array of size-byte rows filled
 * by fill(); on error free() clears what was filled. Finalizes stmt.
 */
static int
state_rows(struct state *st, sqlite3_stmt *stmt, size_t size,
    void (*fill)(sqlite3_stmt *, void *), void (*clear)(void *),
    void **out, int *n, char **cause, const char *what)
{
	char	*rows = NULL;
	int	 rc, i, cap = 0;

	*n = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			rows = xreallocarray(rows, cap, size);
		}
		fill(stmt, rows + (size_t)(*n)++ * size);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		state_cause(st, cause, what);
		for (i = 0; i < *n; i++)
			clear(rows + (size_t)i * size);
		free(rows);
		*out = NULL;
		*n = 0;
		return (-1);
	}
	*out = rows;
	return (0);
}

int
state_begin(struct state *st, char **cause)
{
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		state_cause(st, cause, "begin");
		return (-1);
	}
	st->in_tx = 1;
	return (0);
}

int
state_commit(struct state *st, char **cause)
{
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		state_cause(st, cause, "commit");
		state_rollback(st);
		return (-1);
	}
	st->in_tx = 0;
	return (0);
}

void
state_rollback(struct state *st)
{
	if (st->in_tx)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_tx = 0;
}

int
state_schema_version(struct state *st)
{
	sqlite3_stmt	*stmt;
	int		 v = 0;

	if (sqlite3_prepare_v2(st->db,
	    "SELECT value FROM meta WHERE key = 'schema_version'", -1, &stmt,
	    NULL) != SQLITE_OK)
		return (0);	/* no meta table: empty database */
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return (v);
}

/* Bring the schema up to STATE_SCHEMA_VERSION, one migration per step. */
static int
state_migrate(struct state *st, char **cause)
{
	int	v, target = (int)nitems(state_migrations);

	/* The common case, an up-to-date store, takes no write lock. */
	if (state_schema_version(st) == target)
		return (0);
	if (state_begin(st, cause) != 0)
		return (-1);
	v = state_schema_version(st);
	if (v > target) {
		*cause = xprintf("state %s has schema version %d, newer than "
		    "this fleet understands (%d): upgrade fleet", st->path, v,
		    target);
		state_rollback(st);
		return (-1);
	}
	for (; v < target; v++) {
		if (sqlite3_exec(st->db, state_migrations[v], NULL, NULL,
		    NULL) != SQLITE_OK) {
			state_cause(st, cause, "migrate");
			state_rollback(st);
			return (-1);
		}
	}
	if (state_exec(st, cause, "INSERT OR REPLACE INTO meta(key, value) "
	    "VALUES ('schema_version', ?)", "d", target) != 0) {
		state_rollback(st);
		return (-1);
	}
	return (state_commit(st, cause));
}

/*
 * WAL mode, normal sync, foreign keys. Turning a new database to WAL takes
 * an exclusive lock, and SQLite answers SQLITE_BUSY at once, without the
 * busy handler, while another process opening the same new file holds a
 * shared one: two fleet commands started together on a fresh state dir.
 * Retry for as long as the busy timeout would have waited.
 */
static int
state_configure(struct state *st)
{
	struct timespec	 ts = { 0, 20 * 1000000L };
	int		 rc, tries;

	for (tries = 0;; tries++) {
		rc = sqlite3_exec(st->db, "PRAGMA journal_mode=WAL;"
		    "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", NULL,
		    NULL, NULL);
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 500)
			return (rc);
		nanosleep(&ts, NULL);
	}
}

/* Open (creating if needed) dir/fleet.db with mode 0600, WAL, busy wait. */
/* SQLite says "disk I/O error" for a full disk when it opens the WAL. */
static int
state_disk_full(const char *dir)
{
	struct statvfs	 sv;

	return (statvfs(dir, &sv) == 0 && sv.f_bavail == 0);
}

struct state *
state_open(const char *dir, char **cause)
{
	struct state	*st;
	mode_t		 old;
	int		 rc;

	if (mkdir_p(dir, 0700) != 0) {
		*cause = xprintf("cannot create state dir %s: %s", dir,
		    strerror(errno));
		return (NULL);
	}
	/* SQLite would only say "unable to open database file". */
	if (access(dir, W_OK) != 0) {
		*cause = xprintf("state dir %s is not writable: %s", dir,
		    strerror(errno));
		return (NULL);
	}
	st = xcalloc(1, sizeof *st);
	st->path = xprintf("%s/fleet.db", dir);
	old = umask(077);
	rc = sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	umask(old);
	if (rc != SQLITE_OK) {
		*cause = xprintf("cannot open state %s: %s", st->path,
		    st->db != NULL ? sqlite3_errmsg(st->db) : "out of memory");
		state_close(st);
		return (NULL);
	}
	chmod(st->path, 0600);
	sqlite3_busy_timeout(st->db, 10000);
	if (state_configure(st) != SQLITE_OK) {
		state_cause(st, cause, state_disk_full(dir) ?
		    "configure (the disk is full)" : "configure");
		state_close(st);
		return (NULL);
	}
	if (state_migrate(st, cause) != 0) {
		state_close(st);
		return (NULL);
	}
	return (st);
}

void
state_close(struct state *st)
{
	if (st == NULL)
		return;
	state_rollback(st);
	if (st->db != NULL)
		sqlite3_close(st->db);
	free(st->path);
	free(st);
}

const char *
state_path(const struct state *st)
{
	return (st->path);
}

/* Deployments. */

static void
deployment_from_row(sqlite3_stmt *stmt, struct st_deployment *d)
{
	d->id = sqlite3_column_int64(stmt, 0);
	d->name = col_str(stmt, 1);
	d->template_name = col_str(stmt, 2);
	d->desired = col_str(stmt, 3);
	d->stable_port = sqlite3_column_int(stmt, 4);
	d->idle_timeout = sqlite3_column_int64(stmt, 5);
	d->max_lifetime = sqlite3_column_int64(stmt, 6);
	d->idle_action = sqlite3_column_int(stmt, 7);
	d->created_at = sqlite3_column_int64(stmt, 8);
	d->updated_at = sqlite3_column_int64(stmt, 9);
	d->last_activity = sqlite3_column_int64(stmt, 10);
	d->keep_until = sqlite3_column_int64(stmt, 11);
	d->desired_at = sqlite3_column_int64(stmt, 12);
}

static void
deployment_row(sqlite3_stmt *stmt, void *d)
{
	deployment_from_row(stmt, d);
}

static void
deployment_free(void *d)
{
	st_deployment_clear(d);
}

void
st_deployment_clear(struct st_deployment *d)
{
	free(d->name);
	free(d->template_name);
	free(d->desired);
	memset(d, 0, sizeof *d);
}

void
st_deployment_list_free(struct st_deployment *d, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		st_deployment_clear(&d[i]);
	free(d);
}

/* Look a deployment up by name: 1 found, 0 not found, -1 error. */
int
state_deployment_get(struct state *st, const char *name,
    struct st_deployment *d, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	memset(d, 0, sizeof *d);
	stmt = state_prepare(st, cause, "SELECT " DEPLOYMENT_COLS
	    " FROM deployments WHERE name = ?", "s", name);
	if (stmt == NULL)
		return (-1);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		deployment_from_row(stmt, d);
	else if (rc != SQLITE_DONE)
		state_cause(st, cause, "read deployment");
	sqlite3_finalize(stmt);
	return (rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1);
}

/* Run a query taking one string and returning one integer. */
static int
state_int64(struct state *st, const char *sql, const char *arg,
    int64_t *out, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	if ((stmt = state_prepare(st, cause, sql, "s", arg)) == NULL)
		return (-1);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	else
		state_cause(st, cause, "read");
	sqlite3_finalize(stmt);
	return (rc == SQLITE_ROW ? 0 : -1);
}

/* Insert or update by name; fills d->id. */
int
state_deployment_upsert(struct state *st, struct st_deployment *d,
    char **cause)
{
	int64_t	now = now_wall();

	if (d->created_at == 0)
		d->created_at = now;
	d->updated_at = now;
	d->desired_at = now_wall_ms();
	if (state_exec(st, cause, "INSERT INTO deployments (name, template, "
	    "desired, stable_port, idle_timeout, max_lifetime, idle_action, "
	    "created_at, updated_at, desired_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
	    "?, ?, ?) "
	    "ON CONFLICT(name) DO UPDATE SET template = excluded.template, "
	    "desired = excluded.desired, stable_port = excluded.stable_port, "
	    "idle_timeout = excluded.idle_timeout, "
	    "max_lifetime = excluded.max_lifetime, "
	    "idle_action = excluded.idle_action, "
	    "updated_at = excluded.updated_at, "
	    "desired_at = excluded.desired_at", "sssdiidiii", d->name,
	    d->template_name, d->desired != NULL ? d->desired : "up",
	    d->stable_port, d->idle_timeout, d->max_lifetime, d->idle_action,
	    d->created_at, d->updated_at, d->desired_at) != 0)
		return (-1);
	return (state_int64(st, "SELECT id FROM deployments WHERE name = ?",
	    d->name, &d->id, cause));
}

/* The watchdog's last seen activity (wall clock), kept across restarts. */
int
state_deployment_touch(struct state *st, int64_t id, int64_t when,
    char **cause)
{
	return (state_exec(st, cause, "UPDATE deployments SET last_activity = "
	    "? WHERE id = ? AND last_activity < ?", "iii", when, id, when));
}

/* `fleet keep`: no idle kill before `until`. */
int
state_deployment_keep(struct state *st, int64_t id, int64_t until,
    char **cause)
{
	return (state_exec(st, cause, "UPDATE deployments SET keep_until = ?, "
	    "updated_at = ? WHERE id = ?", "iii", until, now_wall(), id));
}

int
state_deployment_set_desired(struct state *st, int64_t id,
    const char *desired, char **cause)
{
	return (state_exec(st, cause, "UPDATE deployments SET desired = ?, "
	    "updated_at = ?, desired_at = ? WHERE id = ?", "siii", desired,
	    now_wall(), now_wall_ms(), id));
}

/* Remove a deployment that never got an instance (its intent failed). */
int
state_deployment_delete(struct state *st, int64_t id, char **cause)
{
	return (state_exec(st, cause, "DELETE FROM deployments WHERE id = ? "
	    "AND NOT EXISTS (SELECT 1 FROM instances WHERE deployment_id = ?)",
	    "ii", id, id));
}

/*
 * `fleet rm`: forget a deployment that has no live instance. Its row stays,
 * renamed NAME#ID (no valid name has a '#', so the name is free again) with
 * no port and desired 'removed', because its instances and their ledger
 * rows still point at it and `fleet cost` still counts them under NAME.
 * 1 forgotten, 0 it has a live instance (or is gone), -1 error.
 */
int
state_deployment_forget(struct state *st, int64_t id, char **cause)
{
	if (state_exec(st, cause, "UPDATE deployments SET name = name || '#' "
	    "|| id, stable_port = NULL, desired = 'removed', updated_at = ?, "
	    "desired_at = ? WHERE id = ? AND desired <> 'removed' AND NOT "
	    "EXISTS (SELECT 1 FROM instances WHERE deployment_id = ? AND "
	    "ended_at = 0)", "iiii", now_wall(), now_wall_ms(), id, id) != 0)
		return (-1);
	return (sqlite3_changes(st->db) > 0);
}

int
state_deployment_list(struct state *st, struct st_deployment **out, int *n,
    char **cause)
{
	sqlite3_stmt	*stmt;

	*out = NULL;
	*n = 0;
	stmt = state_prepare(st, cause, "SELECT " DEPLOYMENT_COLS
	    " FROM deployments WHERE desired <> 'removed' ORDER BY name",
	    NULL);
	if (stmt == NULL)
		return (-1);
	return (state_rows(st, stmt, sizeof **out, deployment_row,
	    deployment_free, (void **)out, n, cause, "list deployments"));
}

/*
 * Pick the lowest port in [lo, hi] that no deployment holds, that no
 * template claims (reserved) and that is free on bind right now. Call
 * inside a transaction so two processes cannot take the same one (the
 * column is UNIQUE as a backstop).
 */
int
state_port_allocate(struct state *st, int lo, int hi, const char *bind,
    const int *reserved, int nreserved, int *port, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 p, rc, i, skip;

	for (p = lo; p <= hi; p++) {
		for (i = 0, skip = 0; i < nreserved; i++)
			skip |= reserved[i] == p;
		if (skip)
			continue;
		stmt = state_prepare(st, cause, "SELECT 1 FROM deployments "
		    "WHERE stable_port = ?", "d", p);
		if (stmt == NULL)
			return (-1);
		rc = sqlite3_step(stmt);
		sqlite3_finalize(stmt);
		if (rc == SQLITE_ROW)
			continue;
		if (rc != SQLITE_DONE) {
			state_cause(st, cause, "allocate port");
			return (-1);
		}
		if (port_is_free(bind, p)) {
			*port = p;
			return (0);
		}
	}
	*cause = xprintf("no free port left in the proxy range %d-%d "
	    "(proxy.port_min/port_max in fleet.yaml)", lo, hi);
	return (-1);
}

/* Instances. */

static void
instance_from_row(sqlite3_stmt *stmt, struct st_instance *in)
{
	char	*s;

	in->id = sqlite3_column_int64(stmt, 0);
	in->deployment_id = sqlite3_column_int64(stmt, 1);
	in->provider = col_str(stmt, 2);
	in->provider_id = col_str(stmt, 3);
	in->label = col_str(stmt, 4);
	s = col_str(stmt, 5);
	if (s == NULL || inst_state_parse(s, &in->state) != 0)
		in->state = INST_UNKNOWN;
	free(s);
	in->gpu = col_str(stmt, 6);
	in->price_per_hour = sqlite3_column_double(stmt, 7);
	in->upstream = col_str(stmt, 8);
	in->ssh_host = col_str(stmt, 9);
	in->ssh_port = sqlite3_column_int(stmt, 10);
	in->created_at = sqlite3_column_int64(stmt, 11);
	in->billing_since = sqlite3_column_int64(stmt, 12);
	in->spent_usd = sqlite3_column_double(stmt, 13);
	in->ended_at = sqlite3_column_int64(stmt, 14);
	in->updated_at = sqlite3_column_int64(stmt, 15);
	in->gpu_util = sqlite3_column_int(stmt, 16);
	in->gpu_util_at = sqlite3_column_int64(stmt, 17);
	in->stopped_price = sqlite3_column_double(stmt, 18);
	in->billing_rate = sqlite3_column_double(stmt, 19);
}

static void
instance_row(sqlite3_stmt *stmt, void *in)
{
	instance_from_row(stmt, in);
}

static void
instance_free(void *in)
{
	st_instance_clear(in);
}

void
st_instance_clear(struct st_instance *in)
{
	free(in->provider);
	free(in->provider_id);
	free(in->label);
	free(in->gpu);
	free(in->upstream);
	free(in->ssh_host);
	memset(in, 0, sizeof *in);
}

void
st_instance_list_free(struct st_instance *in, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		st_instance_clear(&in[i]);
	free(in);
}

static int
state_instance_by_id(struct state *st, int64_t id, struct st_instance *in,
    char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	memset(in, 0, sizeof *in);
	stmt = state_prepare(st, cause, "SELECT " INSTANCE_COLS
	    " FROM instances WHERE id = ?", "i", id);
	if (stmt == NULL)
		return (-1);
	if ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		instance_from_row(stmt, in);
	else
		state_cause(st, cause, "read instance");
	sqlite3_finalize(stmt);
	return (rc == SQLITE_ROW ? 0 : -1);
}

/*
 * Record the intent to create an instance before the provider is called:
 * a pending row with its label, so a crash right after the call still
 * leaves something `fleet ls`, `fleet down` and the reconciler can find.
 */
int
state_instance_intent(struct state *st, int64_t deployment_id,
    const char *provider, const char *deployment_name,
    struct st_instance *in, char **cause)
{
	int64_t	 now = now_wall(), id;
	char	*label, *tmp;
	int	 outer;

	tmp = xprintf("intent-%lld-%d", (long long)now_mono_ms(),
	    (int)getpid());
	/* Joins the caller's transaction when there is one. */
	outer = st->in_tx;
	if (!outer && state_begin(st, cause) != 0) {
		free(tmp);
		return (-1);
	}
	if (state_exec(st, cause, "INSERT INTO instances (deployment_id, "
	    "provider, label, state, created_at, updated_at) VALUES "
	    "(?, ?, ?, 'pending', ?, ?)", "issii", deployment_id, provider,
	    tmp, now, now) != 0) {
		free(tmp);
		if (!outer)
			state_rollback(st);
		return (-1);
	}
	free(tmp);
	id = sqlite3_last_insert_rowid(st->db);
	label = drv_label(deployment_name, id);
	if (state_exec(st, cause, "UPDATE instances SET label = ? WHERE id = ?",
	    "si", label, id) != 0) {
		free(label);
		if (!outer)
			state_rollback(st);
		return (-1);
	}
	free(label);
	if (!outer && state_commit(st, cause) != 0)
		return (-1);
	return (state_instance_by_id(st, id, in, cause));
}

/* A GPU utilisation sample from the provider (reconcile records it). */
int
state_instance_set_gpu_util(struct state *st, int64_t id, int util,
    int64_t at, char **cause)
{
	return (state_exec(st, cause, "UPDATE instances SET gpu_util = ?, "
	    "gpu_util_at = ? WHERE id = ?", "dii", util, at, id));
}

int
state_instance_set_provider_id(struct state *st, int64_t id,
    const char *provider_id, char **cause)
{
	return (state_exec(st, cause, "UPDATE instances SET provider_id = ?, "
	    "updated_at = ? WHERE id = ?", "sii", provider_id, now_wall(), id));
}

/*
 * Record the provider id that a create returned, unless the row ended
 * while the create was in flight (a `fleet down` found nothing by label
 * and gave it up) or the deployment is wanted down by now: the user's
 * last word wins. 1 recorded, 0 not ours to keep, -1 error.
 */
int
state_instance_claim(struct state *st, int64_t id, const char *provider_id,
    char **cause)
{
	if (state_exec(st, cause, "UPDATE instances SET provider_id = ?, "
	    "updated_at = ? WHERE id = ? AND ended_at = 0 AND (SELECT desired "
	    "FROM deployments WHERE deployments.id = instances.deployment_id) "
	    "= 'up'", "sii", provider_id, now_wall(), id) != 0)
		return (-1);
	return (sqlite3_changes(st->db) > 0);
}

/*
 * What an instance pays per hour in a state: the hourly price while it
 * runs (or boots, or stops), its disk rate while stopped, else nothing.
 */
static double
state_rate(enum inst_state s, double price, double stopped_price)
{
	if (inst_state_bills(s))
		return (price);
	if (s == INST_STOPPED)
		return (stopped_price);
	return (0);
}

/* Close the open billing segment (if any) into the ledger at time now. */
static int
state_bill_close(struct state *st, const struct st_instance *in,
    int64_t now, char **cause)
{
	double	usd;

	if (in->billing_since == 0 || now < in->billing_since)
		return (0);
	usd = in->billing_rate * (double)(now - in->billing_since) / 3600.0;
	if (state_exec(st, cause, "INSERT INTO ledger (instance_id, "
	    "deployment_id, provider, start_ts, end_ts, rate, usd) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?)", "iisiiff", in->id, in->deployment_id,
	    in->provider, in->billing_since, now, in->billing_rate,
	    usd) != 0)
		return (-1);
	return (state_exec(st, cause, "UPDATE instances SET billing_since = 0, "
	    "spent_usd = spent_usd + ? WHERE id = ?", "fi", usd, in->id));
}

/*
 * Write what a driver reported (ids, price, upstream, ssh). A price change
 * while billing closes the segment at the old rate first.
 */
int
state_instance_update(struct state *st, const struct st_instance *in,
    char **cause)
{
	struct st_instance	 cur;
	int64_t			 now = now_wall();
	double			 rate;

	if (state_begin(st, cause) != 0)
		return (-1);
	if (state_instance_by_id(st, in->id, &cur, cause) != 0)
		goto fail;
	rate = state_rate(cur.state, in->price_per_hour, in->stopped_price);
	if (cur.billing_since != 0 && cur.billing_rate != rate) {
		if (state_bill_close(st, &cur, now, cause) != 0)
			goto fail;
		if (state_exec(st, cause, "UPDATE instances SET billing_since "
		    "= ?, billing_rate = ? WHERE id = ?", "ifi", now, rate,
		    in->id) != 0)
			goto fail;
	}
	if (state_exec(st, cause, "UPDATE instances SET provider_id = ?, "
	    "gpu = ?, price_per_hour = ?, upstream = ?, ssh_host = ?, "
	    "ssh_port = ?, stopped_price = ?, updated_at = ? WHERE id = ?",
	    "ssfssdfii", in->provider_id, in->gpu, in->price_per_hour,
	    in->upstream, in->ssh_host, in->ssh_port, in->stopped_price, now,
	    in->id) != 0)
		goto fail;
	st_instance_clear(&cur);
	return (state_commit(st, cause));
fail:
	st_instance_clear(&cur);
	state_rollback(st);
	return (-1);
}

/*
 * About to terminate: record "stopping" and close the billing segment now,
 * before the provider call. Should the write after the call fail (a full
 * disk), the row then says stopping and no longer accrues, instead of
 * running and billing on; `fleet down` or reconcile finishes it. After
 * a terminate that fails, state_instance_set_state(STOPPING) reopens it.
 */
int
state_instance_terminating(struct state *st, int64_t id, char **cause)
{
	struct st_instance	 cur;
	int64_t			 now = now_wall();

	if (state_begin(st, cause) != 0)
		return (-1);
	if (state_instance_by_id(st, id, &cur, cause) != 0)
		goto fail;
	if (state_bill_close(st, &cur, now, cause) != 0 ||
	    state_exec(st, cause, "UPDATE instances SET state = 'stopping', "
	    "billing_since = 0, billing_rate = 0, updated_at = ? WHERE id = ?",
	    "ii", now, id) != 0)
		goto fail;
	st_instance_clear(&cur);
	return (state_commit(st, cause));
fail:
	st_instance_clear(&cur);
	state_rollback(st);
	return (-1);
}

/*
 * Fault injection for the full-disk tests: FLEET_TEST_STATE_FAIL=POINT
 * makes every state write from POINT on fail, as on a full disk, while
 * reads go on (SQLite's query_only).
 */
void
state_test_fail(struct state *st, const char *point)
{
	const char	*v = getenv("FLEET_TEST_STATE_FAIL");

	if (st != NULL && v != NULL && strcmp(v, point) == 0)
		sqlite3_exec(st->db, "PRAGMA query_only = 1", NULL, NULL, NULL);
}

/*
 * Move an instance to a new state, opening or closing its billing segment
 * and stamping ended_at when it reaches a terminal state.
 */
int
state_instance_set_state(struct state *st, int64_t id, enum inst_state ns,
    char **cause)
{
	struct st_instance	 cur;
	int64_t			 now = now_wall(), since, ended;
	double			 rate;
	int			 bills;

	if (state_begin(st, cause) != 0)
		return (-1);
	if (state_instance_by_id(st, id, &cur, cause) != 0)
		goto fail;
	since = cur.billing_since;
	bills = inst_state_bills(ns) ||
	    (ns == INST_STOPPED && cur.stopped_price > 0);
	rate = bills ? state_rate(ns, cur.price_per_hour, cur.stopped_price) :
	    0;
	/* A different rate (running -> stopped disk) is a new segment. */
	if (since != 0 && (!bills || cur.billing_rate != rate)) {
		if (state_bill_close(st, &cur, now, cause) != 0)
			goto fail;
		since = 0;
	}
	if (bills && since == 0)
		since = now;
	ended = cur.ended_at;
	if ((ns == INST_TERMINATED || ns == INST_FAILED) && ended == 0)
		ended = now;
	if (state_exec(st, cause, "UPDATE instances SET state = ?, "
	    "billing_since = ?, billing_rate = ?, ended_at = ?, updated_at = ? "
	    "WHERE id = ?", "sifiii", inst_state_name(ns), since, rate, ended,
	    now, id) != 0)
		goto fail;
	st_instance_clear(&cur);
	return (state_commit(st, cause));
fail:
	st_instance_clear(&cur);
	state_rollback(st);
	return (-1);
}

/*
 * End a row whose create no provider lists, unless a `fleet up` recorded
 * its provider id meanwhile (its create was in flight): then there is an
 * instance to terminate after all. 1 ended, 0 not (it has an id, or had
 * already ended), -1 error.
 */
int
state_instance_give_up(struct state *st, int64_t id, char **cause)
{
	struct st_instance	 cur;
	int64_t			 now = now_wall();

	if (state_begin(st, cause) != 0)
		return (-1);
	if (state_instance_by_id(st, id, &cur, cause) != 0)
		goto fail;
	if (cur.provider_id != NULL || cur.ended_at != 0) {
		st_instance_clear(&cur);
		state_rollback(st);
		return (0);
	}
	if (state_bill_close(st, &cur, now, cause) != 0 ||
	    state_exec(st, cause, "UPDATE instances SET state = 'terminated', "
	    "billing_since = 0, billing_rate = 0, ended_at = ?, updated_at = ? "
	    "WHERE id = ?", "iii", now, now, id) != 0)
		goto fail;
	st_instance_clear(&cur);
	return (state_commit(st, cause) == 0 ? 1 : -1);
fail:
	st_instance_clear(&cur);
	state_rollback(st);
	return (-1);
}

/* The deployment's live instance (newest not ended): 1 found, 0 none. */
int
state_instance_current(struct state *st, int64_t deployment_id,
    struct st_instance *in, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	memset(in, 0, sizeof *in);
	stmt = state_prepare(st, cause, "SELECT " INSTANCE_COLS
	    " FROM instances WHERE deployment_id = ? AND ended_at = 0"
	    " ORDER BY id DESC LIMIT 1", "i", deployment_id);
	if (stmt == NULL)
		return (-1);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		instance_from_row(stmt, in);
	else if (rc != SQLITE_DONE)
		state_cause(st, cause, "read instance");
	sqlite3_finalize(stmt);
	return (rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1);
}

int
state_instance_list(struct state *st, int alive_only,
    struct st_instance **out, int *n, char **cause)
{
	sqlite3_stmt	*stmt;

	*out = NULL;
	*n = 0;
	stmt = state_prepare(st, cause, alive_only ?
	    "SELECT " INSTANCE_COLS " FROM instances WHERE ended_at = 0"
	    " ORDER BY id" :
	    "SELECT " INSTANCE_COLS " FROM instances ORDER BY id", NULL);
	if (stmt == NULL)
		return (-1);
	return (state_rows(st, stmt, sizeof **out, instance_row,
	    instance_free, (void **)out, n, cause, "list instances"));
}

/* Closed segments plus the open one up to now. */
double
st_instance_spent(const struct st_instance *in, int64_t now)
{
	double	usd = in->spent_usd;

	if (in->billing_since != 0 && now > in->billing_since)
		usd += in->billing_rate *
		    (double)(now - in->billing_since) / 3600.0;
	return (usd);
}

static double
state_sum(struct state *st, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt	*stmt;
	va_list		 ap;
	double		 v = 0;

	va_start(ap, fmt);
	stmt = state_vprepare(st, NULL, sql, fmt, ap);
	va_end(ap);
	if (stmt == NULL)
		return (0);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_double(stmt, 0);
	sqlite3_finalize(stmt);
	return (v);
}

double
state_spent_deployment(struct state *st, int64_t deployment_id, int64_t now)
{
	return (state_sum(st, "SELECT COALESCE(SUM(spent_usd + CASE WHEN "
	    "billing_since > 0 AND ? > billing_since THEN billing_rate * "
	    "(? - billing_since) / 3600.0 ELSE 0 END), 0) FROM instances "
	    "WHERE deployment_id = ?", "iii", now, now, deployment_id));
}

/* Spend in [since, now]: ledger segments prorated, plus open segments. */
double
state_spent_since(struct state *st, int64_t since, int64_t now)
{
	double	closed, open;

	closed = state_sum(st, "SELECT COALESCE(SUM(CASE WHEN end_ts <= "
	    "start_ts THEN 0 ELSE usd * (end_ts - MAX(start_ts, ?)) * 1.0 / "
	    "(end_ts - start_ts) END), 0) FROM ledger WHERE end_ts > ?",
	    "ii", since, since);
	open = state_sum(st, "SELECT COALESCE(SUM(billing_rate * "
	    "(? - MAX(billing_since, ?)) / 3600.0), 0) FROM instances "
	    "WHERE billing_since > 0 AND ? > MAX(billing_since, ?)",
	    "iiii", now, since, now, since);
	return (closed + open);
}

/* Events. */

int
state_event(struct state *st, const char *deployment, const char *kind,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	int	 rc;

	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	rc = state_exec(st, NULL, "INSERT INTO events (ts, deployment, kind, "
	    "message) VALUES (?, ?, ?, ?)", "isss", now_wall(), deployment,
	    kind, msg);
	if (rc != 0)
		log_warn("cannot record event %s: %s", kind, msg);
	free(msg);
	return (rc);
}

void
st_event_list_free(struct st_event *ev, int n)
{
	int	i;

	for (i = 0; i < n; i++) {
		free(ev[i].deployment);
		free(ev[i].kind);
		free(ev[i].message);
	}
	free(ev);
}

/* The newest `limit` events (of one deployment, or all), oldest first. */
int
state_event_list(struct state *st, const char *deployment, int limit,
    struct st_event **out, int *n, char **cause)
{
	sqlite3_stmt	*stmt;
	struct st_event	*e;

	*out = xcalloc(limit > 0 ? limit : 1, sizeof **out);
	*n = 0;
	stmt = state_prepare(st, cause, "SELECT id, ts, deployment, kind, "
	    "message FROM (SELECT * FROM events WHERE ? IS NULL OR "
	    "deployment = ? ORDER BY id DESC LIMIT ?) ORDER BY id", "ssd",
	    deployment, deployment, limit);
	if (stmt == NULL) {
		free(*out);
		*out = NULL;
		return (-1);
	}
	while (sqlite3_step(stmt) == SQLITE_ROW && *n < limit) {
		e = &(*out)[(*n)++];
		e->id = sqlite3_column_int64(stmt, 0);
		e->ts = sqlite3_column_int64(stmt, 1);
		e->deployment = col_str(stmt, 2);
		e->kind = col_str(stmt, 3);
		e->message = col_str(stmt, 4);
	}
	sqlite3_finalize(stmt);
	return (0);
}

/*
 * How many events of this kind the deployment has at or after since:
 * the re-creation limit counts its "recreate" events in a rolling window
 * this way, so the count survives restarts with no column to keep.
 * Returns the count, -1 on error.
 */
int
state_event_count(struct state *st, const char *deployment,
    const char *kind, int64_t since, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 n = -1;

	stmt = state_prepare(st, cause, "SELECT COUNT(*) FROM events WHERE "
	    "deployment = ? AND kind = ? AND ts >= ?", "ssi", deployment,
	    kind, since);
	if (stmt == NULL)
		return (-1);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int(stmt, 0);
	else
		state_cause(st, cause, "count events");
	sqlite3_finalize(stmt);
	return (n);
}

/*
 * The newest event of this kind (of one deployment, or fleet-wide ones
 * when deployment is NULL). Event ids only grow, so callers compare ids to
 * learn which of two events came last. 1 found, 0 none, -1 error.
 */
int
state_event_last(struct state *st, const char *deployment, const char *kind,
    struct st_event *e, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	memset(e, 0, sizeof *e);
	stmt = state_prepare(st, cause, "SELECT id, ts, deployment, kind, "
	    "message FROM events WHERE deployment IS ? AND kind = ? "
	    "ORDER BY id DESC LIMIT 1", "ss", deployment, kind);
	if (stmt == NULL)
		return (-1);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		e->id = sqlite3_column_int64(stmt, 0);
		e->ts = sqlite3_column_int64(stmt, 1);
		e->deployment = col_str(stmt, 2);
		e->kind = col_str(stmt, 3);
		e->message = col_str(stmt, 4);
	} else if (rc != SQLITE_DONE)
		state_cause(st, cause, "read event");
	sqlite3_finalize(stmt);
	return (rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1);
}

void
st_event_clear(struct st_event *e)
{
	free(e->deployment);
	free(e->kind);
	free(e->message);
	memset(e, 0, sizeof *e);
}

/* Reconciler and cost queries. */

/* The row carrying label (labels are unique): 1 found, 0 none, -1 error. */
int
state_instance_by_label(struct state *st, const char *label,
    struct st_instance *in, char **cause)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	memset(in, 0, sizeof *in);
	stmt = state_prepare(st, cause, "SELECT " INSTANCE_COLS
	    " FROM instances WHERE label = ?", "s", label);
	if (stmt == NULL)
		return (-1);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		instance_from_row(stmt, in);
	else if (rc != SQLITE_DONE)
		state_cause(st, cause, "read instance");
	sqlite3_finalize(stmt);
	return (rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1);
}

/* The next local midnight after piece.s, in epoch seconds. */
#define COST_NEXT_DAY "CAST(strftime('%s', date(s, 'unixepoch', " \
	"'localtime', '+1 day'), 'utc') AS INTEGER)"

/*
 * Billing in [?1 since, ?2 now]: closed ledger segments and open ones,
 * clipped at since (prorated), cut at local midnights so a day gets only
 * its own share, summed per key.
 */
#define COST_SQL(KEY) \
	"WITH RECURSIVE seg(dep, prov, s, e, per_s) AS (" \
	" SELECT deployment_id, provider, MAX(start_ts, ?1), MIN(end_ts, ?2)," \
	"  usd * 1.0 / (end_ts - start_ts) FROM ledger" \
	"  WHERE end_ts > start_ts AND MIN(end_ts, ?2) > MAX(start_ts, ?1)" \
	" UNION ALL" \
	" SELECT deployment_id, provider, MAX(billing_since, ?1), ?2," \
	"  billing_rate / 3600.0 FROM instances" \
	"  WHERE billing_since > 0 AND ?2 > MAX(billing_since, ?1))," \
	" piece(dep, prov, s, e, per_s) AS (" \
	" SELECT dep, prov, s, e, per_s FROM seg" \
	" UNION ALL" \
	" SELECT dep, prov, " COST_NEXT_DAY ", e, per_s FROM piece" \
	"  WHERE " COST_NEXT_DAY " < e)" \
	" SELECT " KEY " AS k, SUM((MIN(" COST_NEXT_DAY ", e) - s) * per_s)," \
	"  SUM(MIN(" COST_NEXT_DAY ", e) - s)" \
	" FROM piece LEFT JOIN deployments d ON d.id = piece.dep" \
	" GROUP BY k ORDER BY k"

void
st_cost_list_free(struct st_cost *c, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		free(c[i].key);
	free(c);
}

int
state_cost(struct state *st, enum st_cost_by by, int64_t since,
    int64_t now, struct st_cost **out, int *n, char **cause)
{
	static const char *sql[] = {
		/* A removed deployment's row is NAME#ID: count it as NAME. */
		COST_SQL("COALESCE(CASE WHEN instr(d.name, '#') > 0 THEN "
		    "substr(d.name, 1, instr(d.name, '#') - 1) "
		    "ELSE d.name END, '#' || piece.dep)"),
		COST_SQL("piece.prov"),
		COST_SQL("date(piece.s, 'unixepoch', 'localtime')"),
	};
	sqlite3_stmt	*stmt;
	int		 rc, cap = 0;

	*out = NULL;
	*n = 0;
	if ((size_t)by >= nitems(sql))
		fatalx("state_cost: bad grouping %d", (int)by);
	if ((stmt = state_prepare(st, cause, sql[by], "ii", since,
	    now)) == NULL)
		return (-1);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			*out = xreallocarray(*out, cap, sizeof **out);
		}
		(*out)[*n].key = col_str(stmt, 0);
		if ((*out)[*n].key == NULL)
			(*out)[*n].key = xstrdup("-");
		(*out)[*n].usd = sqlite3_column_double(stmt, 1);
		(*out)[*n].seconds = sqlite3_column_int64(stmt, 2);
		(*n)++;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		state_cause(st, cause, "cost");
		st_cost_list_free(*out, *n);
		*out = NULL;
		*n = 0;
		return (-1);
	}
	return (0);
}

/* instance.c: fake instances: a state machine around a real echo process. */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "fleet.h"
#include "fakecloud.h"

#define INSTANCE_PENDING_MS	50	/* before the process starts */
#define INSTANCE_KILL_WAIT_MS	3000	/* at shutdown, then SIGKILL */
#define INSTANCE_LISTEN_WAIT_MS	10000	/* running once it listens */
#define INSTANCE_SPAWN_TRIES	5	/* a picked port can be taken */

static void	instance_exit(struct fc_instance *);
static void	instance_kill(struct fc_instance *);

const char *
instance_state_name(enum fc_state s)
{
	static const char *names[] = {
		"pending", "booting", "running", "stopped", "terminated",
		"gone", "exited"
	};

	return (names[s]);
}

static void
instance_set_state(struct fc_instance *inst, enum fc_state s)
{
	if (s != inst->state)
		log_info("%s %s: %s -> %s", inst->provider, inst->id,
		    instance_state_name(inst->state), instance_state_name(s));
	inst->state = s;
	inst->updated = fc_now();
	inst->updated_ms = fc_now_wall_ms();
	if (s == FC_RUNNING)
		inst->started = inst->updated;
}

static void
instance_timer_add(struct fc_instance *inst, int ms)
{
	struct timeval	 tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(inst->timer, &tv);
}

static void
instance_kid_add(struct fc *fc, pid_t pid)
{
	fc->kids = xreallocarray(fc->kids, fc->nkids + 1, sizeof *fc->kids);
	fc->kids[fc->nkids++] = pid;
}

static void
instance_kid_del(struct fc *fc, pid_t pid)
{
	size_t	 i;

	for (i = 0; i < fc->nkids; i++) {
		if (fc->kids[i] == pid) {
			fc->kids[i] = fc->kids[--fc->nkids];
			return;
		}
	}
}

/* In the child: die with the parent, close inherited fds, exec. */
static void __attribute__((noreturn))
instance_exec(struct fc_instance *inst, pid_t parent, int port)
{
	const char	*exe = inst->fc->fleet;
	char		 portstr[16];
	int		 fd;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(1);
	signal(SIGPIPE, SIG_DFL);
	for (fd = 3; fd < 1024; fd++)
		close(fd);
	snprintf(portstr, sizeof portstr, "%d", port);
	setenv("FLEET_INSTANCE_NAME", inst->label, 1);
	if (exe == NULL)
		exe = "/proc/self/exe";	/* fakecloud's own echo-server */
	execl(exe, "fleet", "echo-server", "--port", portstr, "--bind",
	    "127.0.0.1", (char *)NULL);
	_exit(127);
}

/* Start `<fleet> echo-server` on a fresh loopback port. */
static int
instance_spawn(struct fc_instance *inst)
{
	pid_t	 pid, parent = getpid();
	int	 port, i;

	for (i = 0; i < 20; i++) {
		port = port_pick_free("127.0.0.1");
		if (port > 0 && port != inst->prev_port)
			break;
	}
	if (port <= 0 || port == inst->prev_port) {
		log_error("%s: no free port", inst->id);
		return (-1);
	}
	if ((pid = fork()) == -1) {
		log_error("fork: %s", strerror(errno));
		return (-1);
	}
	if (pid == 0)
		instance_exec(inst, parent, port);
	instance_kid_add(inst->fc, pid);
	inst->pid = pid;
	inst->port = port;
	log_info("%s: pid %ld on port %d", inst->id, (long)pid, port);
	return (0);
}

/* Does something accept connections on 127.0.0.1:port? */
static int
instance_port_open(int port)
{
	struct sockaddr_in	 sin;
	int			 fd, r;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return (r);
}

/* The boot steps: pending -> booting (spawn) -> running. */
static void
instance_timer_cb(evutil_socket_t fd __unused, short events __unused,
    void *arg)
{
	struct fc_instance	*inst = arg;

	switch (inst->state) {
	case FC_PENDING:
		inst->tries = 1;
		inst->boot_ms = fc_now_ms();
		if (instance_spawn(inst) != 0)
			log_warn("%s: boots without a process", inst->id);
		instance_set_state(inst, FC_BOOTING);
		instance_timer_add(inst, inst->exit_ms > 0 &&
		    !inst->exit_running ? inst->exit_ms :
		    inst->fc->boot_delay_ms);
		break;
	case FC_BOOTING:
		if (inst->exit_ms > 0 && !inst->exit_running) {
			instance_exit(inst);
			break;
		}
		/* Running means listening, as a health check would see it. */
		if (inst->pid > 0 && !instance_port_open(inst->port) &&
		    fc_now_ms() - inst->boot_ms < INSTANCE_LISTEN_WAIT_MS) {
			instance_timer_add(inst, 50);
			break;
		}
		instance_set_state(inst, FC_RUNNING);
		if (inst->exit_ms > 0 && inst->exit_running)
			instance_timer_add(inst, inst->exit_ms);
		break;
	case FC_RUNNING:
		/*
		 * Its process died after it ran: the container is being
		 * restarted and runs no more (RunPod: runtime null again).
		 */
		log_info("%s: workload ends after running", inst->id);
		instance_kill(inst);
		inst->exit_ms = 0;
		instance_set_state(inst, FC_BOOTING);
		break;
	default:
		break;
	}
}

/* The workload ends by itself mid-boot (/_control/exit). */
static void
instance_exit(struct fc_instance *inst)
{
	log_info("%s: workload exits (%s)", inst->id, inst->exit_msg != NULL ?
	    inst->exit_msg : "");
	instance_kill(inst);
	instance_set_state(inst, FC_EXITED);
}

/* Begin booting: pending now, a process soon. */
static void
instance_boot(struct fc_instance *inst)
{
	instance_set_state(inst, FC_PENDING);
	instance_timer_add(inst, INSTANCE_PENDING_MS);
}

/* SIGTERM the process; the SIGCHLD handler reaps it. */
static void
instance_kill(struct fc_instance *inst)
{
	evtimer_del(inst->timer);
	if (inst->pid > 0)
		kill(inst->pid, SIGTERM);
	inst->pid = 0;
	if (inst->port != 0)
		inst->prev_port = inst->port;
	inst->port = 0;
}

struct fc_instance *
instance_create(struct fc *fc, const char *provider, const char *id,
    const char *label, const char *gpu, double price)
{
	struct fc_instance	*inst;

	inst = xcalloc(1, sizeof *inst);
	inst->fc = fc;
	inst->provider = xstrdup(provider);
	if (id != NULL)
		inst->id = xstrdup(id);
	else
		inst->id = xprintf("i-%06u", ++fc->next_id);
	inst->label = xstrdup(label != NULL ? label : inst->id);
	inst->gpu = xstrdup(gpu != NULL ? gpu : "NVIDIA A100 80GB");
	inst->price = price;
	inst->created = inst->updated = fc_now();
	inst->created_ms = inst->updated_ms = fc_now_wall_ms();
	inst->meta = cJSON_CreateObject();
	inst->timer = evtimer_new(fc->base, instance_timer_cb, inst);
	if (!control_exit_take(fc, provider, &inst->exit_ms,
	    &inst->exit_running, &inst->exit_msg))
		inst->exit_ms = 0;
	TAILQ_INSERT_TAIL(&fc->instances, inst, entry);
	instance_boot(inst);
	return (inst);
}

/* Find by id (and provider, unless NULL); gone instances included. */
struct fc_instance *
instance_find(struct fc *fc, const char *provider, const char *id)
{
	struct fc_instance	*inst;

	TAILQ_FOREACH(inst, &fc->instances, entry) {
		if (strcmp(inst->id, id) == 0 && (provider == NULL ||
		    strcmp(inst->provider, provider) == 0))
			return (inst);
	}
	return (NULL);
}

int
instance_stop(struct fc_instance *inst, char **cause)
{
	if (inst->state == FC_STOPPED)
		return (0);
	if (inst->state == FC_TERMINATED || inst->state == FC_GONE) {
		*cause = xprintf("instance %s is %s", inst->id,
		    instance_state_name(inst->state));
		return (-1);
	}
	instance_kill(inst);
	instance_set_state(inst, FC_STOPPED);
	return (0);
}

/* Resume a stopped instance; like real clouds, on a different port. */
int
instance_start(struct fc_instance *inst, char **cause)
{
	if (inst->state == FC_PENDING || inst->state == FC_BOOTING ||
	    inst->state == FC_RUNNING)
		return (0);
	if (inst->state != FC_STOPPED && inst->state != FC_EXITED) {
		*cause = xprintf("instance %s is %s", inst->id,
		    instance_state_name(inst->state));
		return (-1);
	}
	inst->exit_ms = 0;	/* a restart boots for real */
	inst->exit_running = 0;
	inst->restarts++;
	instance_boot(inst);
	return (0);
}

int
instance_terminate(struct fc_instance *inst, char **cause)
{
	if (inst->state == FC_GONE) {
		*cause = xprintf("instance %s is gone", inst->id);
		return (-1);
	}
	instance_kill(inst);
	if (inst->state != FC_TERMINATED)
		instance_set_state(inst, FC_TERMINATED);
	return (0);
}

void
instance_vanish(struct fc_instance *inst)
{
	instance_kill(inst);
	instance_set_state(inst, FC_GONE);
}

cJSON *
instance_json(struct fc_instance *inst)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", inst->id);
	cJSON_AddStringToObject(o, "provider", inst->provider);
	cJSON_AddStringToObject(o, "label", inst->label);
	cJSON_AddStringToObject(o, "state", instance_state_name(inst->state));
	cJSON_AddStringToObject(o, "gpu", inst->gpu);
	cJSON_AddNumberToObject(o, "price", inst->price);
	cJSON_AddStringToObject(o, "host", "127.0.0.1");
	cJSON_AddNumberToObject(o, "port", inst->port);
	cJSON_AddNumberToObject(o, "pid", inst->pid);
	cJSON_AddNumberToObject(o, "restarts", inst->restarts);
	if (inst->exit_msg != NULL)
		cJSON_AddStringToObject(o, "exit_msg", inst->exit_msg);
	cJSON_AddNumberToObject(o, "created", (double)inst->created);
	cJSON_AddNumberToObject(o, "updated", (double)inst->updated);
	cJSON_AddNumberToObject(o, "created_ms", (double)inst->created_ms);
	cJSON_AddNumberToObject(o, "updated_ms", (double)inst->updated_ms);
	return (o);
}

/* A process that died while booting (its port was taken): try again. */
static void
instance_respawn(struct fc_instance *inst)
{
	if (inst->state != FC_BOOTING ||
	    inst->tries >= INSTANCE_SPAWN_TRIES)
		return;
	inst->tries++;
	inst->prev_port = inst->port;
	inst->port = 0;
	if (instance_spawn(inst) != 0)
		log_warn("%s: respawn failed", inst->id);
}

/* SIGCHLD: reap every exited child; an instance's own death is logged. */
void
instance_reap(struct fc *fc)
{
	struct fc_instance	*inst;
	pid_t			 pid;
	int			 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		instance_kid_del(fc, pid);
		TAILQ_FOREACH(inst, &fc->instances, entry) {
			if (inst->pid != pid)
				continue;
			log_warn("%s: process %ld exited (status %d)",
			    inst->id, (long)pid, status);
			inst->pid = 0;
			instance_respawn(inst);
		}
	}
}

/* Wait for every child to exit, SIGKILL after a grace period. */
static void
instance_wait_kids(struct fc *fc)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	size_t		 i;
	int		 waited;

	for (waited = 0; fc->nkids > 0; waited += 10) {
		if (waited == INSTANCE_KILL_WAIT_MS) {
			for (i = 0; i < fc->nkids; i++)
				kill(fc->kids[i], SIGKILL);
		}
		instance_reap(fc);
		if (fc->nkids > 0)
			nanosleep(&ts, NULL);
		if (waited > 2 * INSTANCE_KILL_WAIT_MS)
			break;
	}
}

/* Kill and free every instance; at shutdown also wait for the processes. */
void
instance_free_all(struct fc *fc, int wait)
{
	struct fc_instance	*inst;

	while ((inst = TAILQ_FIRST(&fc->instances)) != NULL) {
		TAILQ_REMOVE(&fc->instances, inst, entry);
		instance_kill(inst);
		event_free(inst->timer);
		cJSON_Delete(inst->meta);
		free(inst->exit_msg);
		free(inst->id);
		free(inst->provider);
		free(inst->label);
		free(inst->gpu);
		free(inst);
	}
	if (wait) {
		instance_wait_kids(fc);
		free(fc->kids);
		fc->kids = NULL;
		fc->nkids = 0;
	}
}

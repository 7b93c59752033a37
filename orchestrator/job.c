/* job.c: child jobs of the daemon (tmux's job.c): provider work off-loop. */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "daemon.h"

#define JOB_MAX_ARGS 16

/*
 * Run `fleet [-c CONFIG] ARGS...` as a child. Its output goes to the
 * daemon's log; the daemon learns the outcome from the exit status and
 * the state, never by waiting.
 */
int
job_run(struct daemon *d, const char *deployment, const char *what,
    const char *const *args)
{
	const char	*argv[JOB_MAX_ARGS + 4];
	char		*exe;
	struct job	*j;
	pid_t		 pid;
	int		 n = 0, i;

	exe = self_exe();
	argv[n++] = exe;
	if (d->ctx->config_path != NULL) {
		argv[n++] = "-c";
		argv[n++] = d->ctx->config_path;
	}
	for (i = 0; args[i] != NULL && i < JOB_MAX_ARGS; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if ((pid = fork()) == -1) {
		log_error("job %s %s: fork: %s", what, deployment,
		    strerror(errno));
		free(exe);
		return (-1);
	}
	if (pid == 0) {
		setenv("FLEET_STATE_DIR", d->ctx->state_dir, 1);
		if (d->log_fd != -1) {
			dup2(d->log_fd, 1);
			dup2(d->log_fd, 2);
		}
		signal(SIGPIPE, SIG_DFL);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	free(exe);
	j = xcalloc(1, sizeof *j);
	j->pid = pid;
	j->deployment = xstrdup(deployment);
	j->what = xstrdup(what);
	j->started_mono = now_mono_ms();
	j->next = d->jobs;
	d->jobs = j;
	log_info("job %d: %s %s started", (int)pid, what, deployment);
	return (0);
}

/* Is a job already acting on this deployment? Never start a second. */
int
job_running(struct daemon *d, const char *deployment)
{
	struct job	*j;

	for (j = d->jobs; j != NULL; j = j->next)
		if (strcmp(j->deployment, deployment) == 0)
			return (1);
	return (0);
}

static void
job_free(struct job *j)
{
	free(j->deployment);
	free(j->what);
	free(j);
}

/* SIGCHLD: collect every finished job, log it, re-read state. */
void
job_reap(struct daemon *d)
{
	struct job	**jp, *j;
	pid_t		 pid;
	int		 status, any = 0;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (jp = &d->jobs; (j = *jp) != NULL; jp = &j->next) {
			if (j->pid != pid)
				continue;
			*jp = j->next;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				log_info("job %d: %s %s done in %.1fs",
				    (int)pid, j->what, j->deployment,
				    (now_mono_ms() - j->started_mono) / 1000.0);
			else
				log_error("job %d: %s %s failed (status %d); "
				    "the next sweep retries", (int)pid, j->what,
				    j->deployment, WIFEXITED(status) ?
				    WEXITSTATUS(status) : 128 + WTERMSIG(status));
			job_free(j);
			any = 1;
			break;
		}
	}
	if (any)
		daemon_refresh(d);
}

void
job_free_all(struct daemon *d)
{
	struct job	*j;

	while ((j = d->jobs) != NULL) {
		d->jobs = j->next;
		job_free(j);
	}
}

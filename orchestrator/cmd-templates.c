/* cmd-templates.c: `fleet templates`: what can be deployed, and its needs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"

static int cmd_templates_exec(struct cmd_ctx *, int, char **);

const struct cmd_entry cmd_templates_entry = {
	"templates",
	"[--json]",
	"list deployable templates: GPU needs, port, description",
	"Lists the templates found in the template search path (fleet.yaml's\n"
	"template_dirs, $FLEET_TEMPLATE_DIR, ~/.config/fleet/templates,\n"
	"./templates, the installed ones). A template that fails to load is\n"
	"reported with its file:line:column and the command exits 2.\n\n"
	"  --json   one JSON array (name, description, gpu_models, gpu_count,\n"
	"           min_vram_gb, stable_port, path)\n",
	cmd_templates_exec,
	0
};

static cJSON *
templates_json(const struct fleet_template *t)
{
	cJSON	*o = cJSON_CreateObject(), *m;
	int	 i;

	cJSON_AddStringToObject(o, "name", t->name);
	cJSON_AddStringToObject(o, "description", t->description != NULL ?
	    t->description : "");
	m = cJSON_AddArrayToObject(o, "gpu_models");
	for (i = 0; i < t->gpu.nmodels; i++)
		cJSON_AddItemToArray(m, cJSON_CreateString(t->gpu.models[i]));
	cJSON_AddNumberToObject(o, "gpu_count", t->gpu.count);
	cJSON_AddNumberToObject(o, "min_vram_gb", t->gpu.min_vram_gb);
	cJSON_AddNumberToObject(o, "stable_port", t->stable_port);
	cJSON_AddStringToObject(o, "path", t->path);
	return (o);
}

static void
templates_row(const struct fleet_template *t)
{
	char	gpu[64];

	if (t->gpu.count == 0)
		snprintf(gpu, sizeof gpu, "none");
	else
		snprintf(gpu, sizeof gpu, "%dx %s %dG+", t->gpu.count,
		    t->gpu.nmodels > 0 ? t->gpu.models[0] : "any",
		    t->gpu.min_vram_gb);
	printf("%-22s %-22s %-6d %s\n", t->name, gpu, t->stable_port,
	    t->description != NULL ? t->description : "");
}

static int
cmd_templates_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct fleet_template	*t;
	cJSON			*arr = NULL;
	char		       **paths, *cause = NULL, *txt;
	int			 ch, n, i, rc = FLEET_EXIT_OK, json = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch != 'j')
			return (cmd_usage_error(&cmd_templates_entry,
			    "bad option"));
		json = 1;
	}
	if ((rc = cmd_load_config(ctx)) != 0)
		return (rc);
	paths = template_list_paths(ctx->conf, &n);
	if (json)
		arr = cJSON_CreateArray();
	else
		printf("%-22s %-22s %-6s %s\n", "NAME", "GPU", "PORT",
		    "DESCRIPTION");
	for (i = 0; i < n; i++) {
		if ((t = template_load_file(paths[i], &cause)) == NULL) {
			fprintf(stderr, "fleet templates: %s\n", cause);
			free(cause);
			cause = NULL;
			rc = FLEET_EXIT_USAGE;
		} else {
			if (json)
				cJSON_AddItemToArray(arr, templates_json(t));
			else
				templates_row(t);
			template_free(t);
		}
		free(paths[i]);
	}
	free(paths);
	if (json) {
		txt = cJSON_Print(arr);
		printf("%s\n", txt);
		free(txt);
		cJSON_Delete(arr);
	}
	return (rc);
}

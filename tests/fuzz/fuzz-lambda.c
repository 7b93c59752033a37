/* fuzz-lambda.c: libFuzzer target for the Lambda driver's response parsers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "driver-lambda.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 fz_a100[] = "A100 80GB";
static char	 fz_h100[] = "NVIDIA H100 SXM";
static char	*fz_models[] = { fz_a100, fz_h100 };
static char	 fz_name[] = "fuzz";
static struct tmpl_port fz_port = { 8080, PORT_HTTP, 1 };

/* Instance parsing as get() and list() do it, and the upstream after. */
static void
fuzz_instance(const cJSON *o, const struct fleet_template *t)
{
	struct drv_instance	 in;
	char			*up;

	if (lambda_parse_instance(o, &in) != 0)
		return;
	if ((up = drv_instance_upstream(&in, t)) != NULL)
		free(up);
	drv_instance_clear(&in);
}

static void
fuzz_offers(const cJSON *data, const struct fleet_template *t)
{
	struct drv_offer	*o;
	size_t			 n;
	int			 sold_out;

	if (lambda_parse_offers(data, t, "us-west-2", &o, &n, &sold_out) == 0)
		drv_offer_list_free(o, n);
	if (lambda_parse_offers(data, NULL, NULL, &o, &n, NULL) == 0)
		drv_offer_list_free(o, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fleet_template	 t;
	struct drv_error	 err;
	const cJSON		*d, *e, *list;
	cJSON			*root;
	char			*s;
	static const long	 statuses[] = { 400, 401, 404, 429, 502 };
	size_t			 i;

	s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	/* The GPU matcher sees template text: split the input in two. */
	(void)lambda_gpu_matches(s, s + size / 2, (int)(size % 97));

	memset(&t, 0, sizeof t);
	t.name = fz_name;
	t.gpu.count = (int)(size % 3);
	t.gpu.min_vram_gb = (int)(size % 5) * 20;
	t.gpu.models = fz_models;
	t.gpu.nmodels = size % 2 ? 2 : 0;
	t.ports = &fz_port;
	t.nports = 1;

	root = cJSON_ParseWithLengthOpts(s, size + 1, NULL, 1);
	for (i = 0; i < nitems(statuses); i++) {
		memset(&err, 0, sizeof err);
		lambda_map_error(statuses[i], root, s, i % 2, &err);
	}
	free(s);
	if (root == NULL)
		return (0);
	d = cJSON_GetObjectItemCaseSensitive(root, "data");
	fuzz_offers(d, &t);
	fuzz_instance(d, &t);
	fuzz_instance(root, &t);
	cJSON_ArrayForEach(e, d)
		fuzz_instance(e, &t);
	list = cJSON_GetObjectItemCaseSensitive(d, "terminated_instances");
	cJSON_ArrayForEach(e, list)
		fuzz_instance(e, &t);
	cJSON_Delete(root);
	return (0);
}

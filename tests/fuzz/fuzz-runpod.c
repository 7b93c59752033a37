/* fuzz-runpod.c: libFuzzer target for the RunPod driver's response parsers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "driver-runpod.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Every pod-shaped object the driver would read from this answer. */
static void
fuzz_pods(const cJSON *v)
{
	struct drv_instance	 in;
	struct drv_account	 a;
	const cJSON		*p;

	/* myself is the account too (fleet doctor). */
	if (runpod_parse_account(v, &a) == 0)
		drv_account_clear(&a);

	if (runpod_parse_pod(v, &in) == 0)
		drv_instance_clear(&in);
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(v, "pods")) {
		if (runpod_parse_pod(p, &in) == 0)
			drv_instance_clear(&in);
	}
}

static void
fuzz_offers(const cJSON *v)
{
	static char		 m0[] = "RTX 4090", m1[] = "A100 80GB";
	static char		*models[] = { m0, m1 };
	struct fleet_template	 t;
	struct drv_offer	*o;
	size_t			 n;
	int			 spot;

	memset(&t, 0, sizeof t);
	for (spot = 0; spot < 2; spot++) {
		t.gpu.count = spot + 1;
		t.gpu.models = spot ? models : NULL;
		t.gpu.nmodels = spot ? 2 : 0;
		t.gpu.min_vram_gb = spot ? 24 : 0;
		if (runpod_parse_offers(v, &t, spot, &o, &n) == 0)
			drv_offer_list_free(o, n);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*roots[] = { "pod", "myself", "gpuTypes",
				    "podFindAndDeployOnDemand",
				    "podTerminate" };
	static const long	 statuses[] = { 200, 400, 401, 429, 503 };
	struct drv_error	 err;
	const cJSON		*v;
	cJSON			*j;
	char			*s;
	size_t			 i;

	if (size > 1 << 20)
		return (0);
	s = xstrndup((const char *)data, size);
	runpod_classify(s);
	runpod_gpu_matches(s, "NVIDIA GeForce RTX 4090", "RTX 4090");
	runpod_gpu_matches("A100 80GB", s, s);
	j = cJSON_ParseWithLength(s, strlen(s));
	for (i = 0; i < nitems(roots); i++) {
		memset(&err, 0, sizeof err);
		if (runpod_response(statuses[i], j, roots[i], &v, &err) != 0)
			continue;
		fuzz_pods(v);
		fuzz_offers(v);
	}
	/* The value itself as a pod, a pod list and a gpuTypes list. */
	fuzz_pods(j);
	fuzz_offers(j);
	cJSON_Delete(j);
	free(s);
	return (0);
}

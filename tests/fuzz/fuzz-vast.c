/* fuzz-vast.c: libFuzzer target for the Vast.ai driver's response parsers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "config.h"
#include "driver.h"
#include "driver-vast.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 f_name[] = "fuzz";
static char	 f_image[] = "fuzz/image:1";
static char	 f_m0[] = "A100 80GB";
static char	 f_m1[] = "RTX_4090";
static char	*f_models[] = { f_m0, f_m1 };

/* A template whose requirement the offers are checked against. */
static void
fuzz_template(struct fleet_template *t, struct tmpl_port *p, int variant)
{
	memset(t, 0, sizeof *t);
	memset(p, 0, sizeof *p);
	t->name = f_name;
	t->image = f_image;
	t->disk_gb = 20;
	t->gpu.count = variant & 1 ? 2 : 1;
	t->gpu.min_vram_gb = variant & 2 ? 24 : 0;
	if (variant & 4) {
		t->gpu.models = f_models;
		t->gpu.nmodels = 2;
	}
	p->number = 8080;
	p->proto = PORT_HTTP;
	p->stable = 1;
	t->ports = p;
	t->nports = 1;
}

/*
 * The first byte picks the parser (and a variant); the rest is a response
 * body as Vast might send it.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fleet_template	 t;
	struct tmpl_port	 p;
	struct drv_instance	*list, in;
	struct drv_account	 acct;
	struct drv_offer	*offers;
	struct drv_error	 err;
	const char		*body;
	char			*next, *s, *nul;
	size_t			 len, n;
	cJSON			*j, *o;
	uint8_t			 sel;

	if (size < 1)
		return (0);
	sel = data[0];
	body = (const char *)data + 1;
	len = size - 1;
	memset(&err, 0, sizeof err);
	switch (sel % 6) {
	case 0:
		fuzz_template(&t, &p, sel / 6);
		if (vast_offers_from_json(body, len, (sel / 6) & 8 ? NULL : &t,
		    &offers, &n, &err) == 0)
			drv_offer_list_free(offers, n);
		break;
	case 1:
		if (vast_instances_from_json(body, len, &list, &n, &next,
		    &err) == 0) {
			drv_instance_list_free(list, n);
			free(next);
		}
		break;
	case 2:
		/* One instance, alone or inside {"instances": ...}. */
		j = cJSON_ParseWithLength(body, len);
		o = cJSON_GetObjectItemCaseSensitive(j, "instances");
		if (vast_instance_from_json(o != NULL ? o : j, &in) == 0)
			drv_instance_clear(&in);
		/* The same bytes as users/current (fleet doctor). */
		if (vast_account_from_json(j, &acct) == 0)
			drv_account_clear(&acct);
		cJSON_Delete(j);
		break;
	case 3:
		vast_error(sel < 128 ? 400 + sel % 32 : 200 + sel, body, len,
		    sel & 1, &err);
		break;
	case 4:
		/* "model\0gpu_name" */
		s = xmalloc(len + 2);
		memcpy(s, body, len);
		s[len] = s[len + 1] = '\0';
		nul = s + strlen(s);
		if ((size_t)(nul - s) < len)
			vast_model_accepts(s, nul + 1, NULL);
		else
			vast_model_accepts(s, "RTX 4090", NULL);
		free(s);
		break;
	case 5:
		/* "actual\0intended\0cur_state\0status_msg" */
		s = xmalloc(len + 4);
		memcpy(s, body, len);
		memset(s + len, 0, 4);
		{
			const char *a = s, *b, *c, *d;
			b = a + strlen(a) + 1;
			b = b <= s + len ? b : NULL;
			c = b != NULL && b + strlen(b) + 1 <= s + len ?
			    b + strlen(b) + 1 : NULL;
			d = c != NULL && c + strlen(c) + 1 <= s + len ?
			    c + strlen(c) + 1 : NULL;
			(void)vast_state(a, b, c, d);
		}
		free(s);
		break;
	}
	return (0);
}

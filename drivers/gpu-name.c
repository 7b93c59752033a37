/* gpu-name.c: one name per GPU model, whatever the provider calls it. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fleet.h"
#include "driver.h"

/* Vendor words the providers put in front of the model. */
static const char *const gpu_prefixes[] = { "NVIDIA ", "GeForce ", "Tesla " };

/* Workstation cards some providers name without their "RTX". */
static const struct {
	const char	*bare;
	const char	*name;
} gpu_aliases[] = {
	{ "A6000", "RTX A6000" }, { "A5000", "RTX A5000" },
	{ "A4000", "RTX A4000" }, { "A4500", "RTX A4500" },
	{ "6000 Ada", "RTX 6000 Ada" },
};

/* Models sold with more than one memory size: the size is part of it. */
static const char *const gpu_multi_mem[] = {
	"A100", "H100", "V100", "GH200",
};

/* Form factors, as the name ends: "PCIE" -> "PCIe", "sxm4" -> "SXM4". */
static const char *
gpu_form(const char *w)
{
	static const char *const forms[] = {
		"PCIe", "SXM", "SXM2", "SXM4", "SXM5", "HBM3", "NVL",
	};
	size_t	i;

	for (i = 0; i < nitems(forms); i++)
		if (strcasecmp(w, forms[i]) == 0)
			return (forms[i]);
	return (NULL);
}

/* "80GB", "80G" or "80" before " GB": the size, else 0. */
static int
gpu_mem_word(const char *w)
{
	char	*end;
	long	 n;

	if (!isdigit((unsigned char)*w))
		return (0);
	n = strtol(w, &end, 10);
	if (n <= 0 || n > 4096 || (strcasecmp(end, "GB") != 0 &&
	    strcasecmp(end, "G") != 0))
		return (0);
	return ((int)n);
}

static int
gpu_is_multi_mem(const char *model)
{
	size_t	i;

	for (i = 0; i < nitems(gpu_multi_mem); i++)
		if (strcmp(model, gpu_multi_mem[i]) == 0)
			return (1);
	return (0);
}

/* "40 GB" -> "40GB", in place, so the size is one word. */
static void
gpu_join_gb(char *s)
{
	char	*p;

	for (p = s; (p = strchr(p, ' ')) != NULL; p++)
		if (p > s && isdigit((unsigned char)p[-1]) &&
		    strncasecmp(p + 1, "GB", 2) == 0)
			memmove(p, p + 1, strlen(p + 1) + 1);
}

/*
 * Split raw into model words, a memory size and a form factor. Lambda's
 * "A100 (40 GB SXM4)" and RunPod's "A100 80GB PCIe" and Vast's
 * "A100 PCIE" all come apart the same way.
 */
static void
gpu_split(char *s, char *model, size_t len, int *mem, const char **form)
{
	char		*w, *save = NULL;
	const char	*f;
	size_t		 used = 0;
	int		 m, r;

	*model = '\0';
	for (w = strtok_r(s, " ()-_", &save); w != NULL;
	    w = strtok_r(NULL, " ()-_", &save)) {
		if ((m = gpu_mem_word(w)) > 0) {
			*mem = m;
			continue;
		}
		if (strcasecmp(w, "GB") == 0)
			continue;
		if ((f = gpu_form(w)) != NULL) {
			*form = f;
			continue;
		}
		r = snprintf(model + used, len - used, "%s%s",
		    used > 0 ? " " : "", w);
		if (r < 0 || (size_t)r >= len - used)
			break;	/* longer than any model name: keep what fits */
		used += r;
	}
}

/*
 * The name fleet shows for a GPU: "A100 80GB PCIe", "RTX A6000",
 * "H100 80GB SXM5". vram_gb fills in the size of a model sold in several
 * sizes when the provider's name leaves it out (0: unknown). A count
 * prefix ("8x ") is dropped: the count is shown apart. The caller's.
 */
char *
drv_gpu_name(const char *raw, int vram_gb)
{
	char		*s, *p, model[128];
	const char	*form = NULL;
	size_t		 i, n;
	int		 mem = 0;

	if (raw == NULL || *raw == '\0')
		return (NULL);
	p = s = xstrdup(raw);
	if (isdigit((unsigned char)*p)) {	/* "8x A100 ..." */
		while (isdigit((unsigned char)*p))
			p++;
		p = (*p == 'x' && p[1] == ' ') ? p + 2 : s;
	}
	for (i = 0; i < nitems(gpu_prefixes); i++) {
		n = strlen(gpu_prefixes[i]);
		if (strncasecmp(p, gpu_prefixes[i], n) == 0)
			p += n;
	}
	gpu_join_gb(p);
	gpu_split(p, model, sizeof model, &mem, &form);
	free(s);
	if (*model == '\0')
		return (xstrdup(raw));
	for (i = 0; i < nitems(gpu_aliases); i++)
		if (strcasecmp(model, gpu_aliases[i].bare) == 0)
			snprintf(model, sizeof model, "%s",
			    gpu_aliases[i].name);
	if (!gpu_is_multi_mem(model))
		mem = 0;
	else if (mem == 0)
		mem = vram_gb;
	if (mem > 0)
		return (xprintf("%s %dGB%s%s", model, mem, form != NULL ?
		    " " : "", form != NULL ? form : ""));
	return (xprintf("%s%s%s", model, form != NULL ? " " : "",
	    form != NULL ? form : ""));
}

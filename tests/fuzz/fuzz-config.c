/* fuzz-config.c: libFuzzer target for the fleet.yaml and template loaders. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fleet.h"
#include "config.h"

/*
 * The same bytes go through both loaders: they share the YAML node parser
 * but map it through different tables. Seed it with the shipped files:
 *
 *	mkdir -p build-fuzz/corpus-config
 *	cp fleet.yaml templates/[a-z]*.yaml build-fuzz/corpus-config/
 *	build-fuzz/fuzz-config build-fuzz/corpus-config
 */
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fleet_config	*conf;
	struct fleet_template	*t;
	char			*cause = NULL;

	conf = config_load_buffer("fuzz.yaml", (const char *)data, size,
	    &cause);
	config_free(conf);
	free(cause);
	cause = NULL;

	/* Named like a template file, so the name check can pass too. */
	t = template_load_buffer("templates/fuzz.yaml", (const char *)data,
	    size, &cause);
	if (t != NULL && template_stable_port(t) == NULL)
		abort();	/* a loaded template always has one */
	/* Every ${...} the loader kept goes through the one expander. */
	if (t != NULL && template_check_vars(t, TMPL_VARS_ALL, &cause) != 0 &&
	    cause == NULL)
		abort();	/* a refusal always says why */
	template_free(t);
	free(cause);
	return (0);
}

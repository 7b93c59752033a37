/* fuzz-paperspace.c: libFuzzer target for the Paperspace driver's parsers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "driver.h"
#include "driver-paperspace.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * One input, every parser a response can reach: a machine (bare or
 * wrapped), a list page, an error answer under a few statuses, the OS
 * template choice, and the price spec. The first byte picks the status
 * and the machine type asked about, so one corpus covers the branches.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 200, 400, 401, 404, 409, 429, 503 };
	static const char *types[] = { "A100-80G", "H100", "P4000", "x" };
	struct drv_instance	 in, *list = NULL;
	struct drv_error	 err;
	const char		*body;
	size_t			 n = 0, cap = 0, len;
	char			*s, *next = NULL, *id, *cause = NULL;
	int			 sel, unavailable;

	if (size == 0)
		return (0);
	sel = data[0];
	body = (const char *)data + 1;
	len = size - 1;
	memset(&err, 0, sizeof err);

	if (paperspace_machine_parse(body, len, &in, &err) == 0)
		drv_instance_clear(&in);
	if (paperspace_list_parse(body, len, &list, &n, &cap, &next,
	    &err) == 0)
		free(next);
	drv_instance_list_free(list, n);
	paperspace_error_parse(statuses[sel % nitems(statuses)], body, len,
	    "fuzz-secret-key", &err);
	if (strstr(err.message, "fuzz-secret-key") != NULL)
		abort();	/* the key must never survive into a message */
	id = paperspace_template_choose(body, len, types[(sel >> 3) %
	    nitems(types)], &unavailable);
	free(id);

	/* The price spec is a NUL-terminated string. */
	s = xstrndup(body, len);
	if (paperspace_prices_check(s, &cause) != 0)
		free(cause);
	paperspace_state_map(s);
	free(s);
	return (0);
}

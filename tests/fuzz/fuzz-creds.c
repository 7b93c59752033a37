/* fuzz-creds.c: libFuzzer target for the credentials file parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "creds.h"

/*
 * Whatever the bytes, the parser either fails with a cause or returns
 * entries that each name a provider and hold a key fleet could store.
 *
 *	mkdir -p build-fuzz/corpus-creds
 *	printf 'runpod = rp_x1\n# c\nvast=vk_2\n' >build-fuzz/corpus-creds/a
 *	build-fuzz/fuzz-creds build-fuzz/corpus-creds
 */
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct creds_entry	*e;
	size_t			 n, i;
	char			*cause = NULL, *why = NULL;

	if (creds_parse("fuzz", (const char *)data, size, &e, &n,
	    &cause) != 0) {
		if (cause == NULL)
			abort();	/* a failure always says why */
		free(cause);
		return (0);
	}
	for (i = 0; i < n; i++) {
		if (e[i].provider == NULL || !creds_key_valid(e[i].key, &why))
			abort();
	}
	creds_entries_free(e, n);
	return (0);
}

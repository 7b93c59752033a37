/* fuzz-json.c: libFuzzer target for provider JSON responses and headers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fleet.h"
#include "http.h"

#define WALK_MAX_DEPTH	32

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Read a field the way a driver would: type-checked, never trusted. */
static size_t
fuzz_field(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsString(v) && v->valuestring != NULL)
		return (strlen(v->valuestring));
	if (cJSON_IsNumber(v))
		return (v->valuedouble > 0 && v->valuedouble < 1e9 ?
		    (size_t)v->valuedouble : 0);
	if (cJSON_IsBool(v))
		return (cJSON_IsTrue(v));
	return (0);
}

/* The fields RunPod, Lambda, Vast and Paperspace answers share. */
static size_t
fuzz_instance(const cJSON *o)
{
	static const char *fields[] = { "id", "name", "status",
	    "desiredStatus", "actual_status", "ip", "publicIp", "ssh_port",
	    "costPerHr", "dph_total", "price_cents_per_hour", "message",
	    "error", "code" };
	const cJSON	*ports, *p;
	size_t		 i, n = 0;

	if (!cJSON_IsObject(o))
		return (0);
	for (i = 0; i < nitems(fields); i++)
		n += fuzz_field(o, fields[i]);
	ports = cJSON_GetObjectItemCaseSensitive(o, "ports");
	cJSON_ArrayForEach(p, ports) {
		n += fuzz_field(p, "privatePort") + fuzz_field(p, "publicPort");
		n += fuzz_field(p, "HostPort");
	}
	return (n);
}

/* Walk every node with a depth bound, as generic driver code might. */
static size_t
fuzz_walk(const cJSON *node, int depth)
{
	const cJSON	*c;
	size_t		 n = 1;

	if (depth > WALK_MAX_DEPTH)
		return (0);
	n += fuzz_instance(node);
	cJSON_ArrayForEach(c, node) {
		if (c->string != NULL)
			n += strlen(c->string);
		n += fuzz_walk(c, depth + 1);
	}
	return (n);
}

/* GraphQL style: {"data": {...}, "errors": [{"message": ...}]}. */
static size_t
fuzz_envelope(const cJSON *root)
{
	const cJSON	*data, *errors, *e, *list, *it;
	size_t		 n = 0;

	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	errors = cJSON_GetObjectItemCaseSensitive(root, "errors");
	cJSON_ArrayForEach(e, errors)
		n += fuzz_field(e, "message");
	list = cJSON_IsArray(data) ? data :
	    cJSON_GetObjectItemCaseSensitive(root, "instances");
	cJSON_ArrayForEach(it, list)
		n += fuzz_instance(it);
	return (n + fuzz_instance(data));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON	*root;
	char	*s, *text;
	size_t	 n;

	/* NUL-terminated, as http.c hands bodies to cJSON. */
	s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	/* Retry-After values come from the same untrusted servers. */
	(void)http_parse_retry_after(s);

	root = cJSON_ParseWithLengthOpts(s, size + 1, NULL, 1);
	free(s);
	if (root == NULL)
		return (0);
	n = fuzz_envelope(root) + fuzz_walk(root, 0);
	/* What we print back (logs, --json output) must parse again. */
	if ((text = cJSON_PrintUnformatted(root)) != NULL) {
		cJSON_Delete(cJSON_Parse(text));
		free(text);
	}
	cJSON_Delete(root);
	return (n == (size_t)-1);
}

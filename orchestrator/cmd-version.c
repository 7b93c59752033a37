/* cmd-version.c: `fleet version`. */
#include <stdio.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <sqlite3.h>
#include <yaml.h>

#include "fleet.h"

static int
cmd_version_exec(struct cmd_ctx *ctx __unused, int argc __unused,
    char **argv __unused)
{
	printf("fleet %s\n", FLEET_VERSION);
	printf("libcurl %s, sqlite %s, libyaml %s, libevent %s\n",
	    curl_version_info(CURLVERSION_NOW)->version, sqlite3_libversion(),
	    yaml_get_version_string(), event_get_version());
	return (FLEET_EXIT_OK);
}

const struct cmd_entry cmd_version_entry = {
	"version", "", "print the version of fleet and its libraries", "",
	cmd_version_exec, 0
};

/* log.c: levelled logging with secret redaction and escaped text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"

/* Shorter secrets would redact every word they occur in; config.c refuses
 * such a proxy.token, and provider keys are far longer. */
#define LOG_MIN_SECRET	4
#define LOG_REDACTED	"[REDACTED]"

static const char	*log_prog = "fleet";
static int		 log_verbosity = LOG_WARN;
static FILE		*log_out;
static char		**log_secrets;	/* grows, never evicts */
static size_t		 log_nsecrets;

void
log_init(const char *progname, int verbosity, FILE *out)
{
	log_prog = progname;
	log_verbosity = LOG_WARN + verbosity;
	if (log_verbosity > LOG_DEBUG)
		log_verbosity = LOG_DEBUG;
	log_out = out;
}

void
log_set_file(FILE *f)
{
	log_out = f;
}

int
log_level(void)
{
	return (log_verbosity);
}

/* Remember a secret so it never appears in a log or error line. */
void
log_add_secret(const char *s)
{
	size_t	 i;

	if (s == NULL || strlen(s) < LOG_MIN_SECRET)
		return;
	for (i = 0; i < log_nsecrets; i++)
		if (strcmp(log_secrets[i], s) == 0)
			return;
	log_secrets = xreallocarray(log_secrets, log_nsecrets + 1,
	    sizeof *log_secrets);
	log_secrets[log_nsecrets++] = xstrdup(s);
}

/* The length of the longest secret that starts at p, 0 if none. */
static size_t
log_secret_at(const char *p)
{
	size_t	 i, n, best = 0;

	for (i = 0; i < log_nsecrets; i++) {
		n = strlen(log_secrets[i]);
		if (n > best && strncmp(p, log_secrets[i], n) == 0)
			best = n;
	}
	return (best);
}

/*
 * Copy of s with every known secret replaced by "[REDACTED]". Matches are
 * found in the original text only and never in what replaced them, so a
 * secret inside the marker ("ACTED]") cannot loop; overlapping or adjacent
 * matches become one marker, so no part of either shows.
 */
char *
log_redact(const char *s)
{
	char	*hide, *out;
	size_t	 len, i, j, n, o = 0, runs = 0;

	len = strlen(s);
	if (log_nsecrets == 0 || len == 0)
		return (xstrdup(s));
	hide = xcalloc(len, 1);
	for (i = 0; i < len; i++)
		for (n = log_secret_at(s + i), j = i; j < i + n; j++)
			hide[j] = 1;
	for (i = 0; i < len; i++)
		if (hide[i] && (i == 0 || !hide[i - 1]))
			runs++;
	out = xmalloc(len + runs * (sizeof LOG_REDACTED - 1) + 1);
	for (i = 0; i < len; i++) {
		if (!hide[i])
			out[o++] = s[i];
		else if (i == 0 || !hide[i - 1]) {
			memcpy(out + o, LOG_REDACTED, sizeof LOG_REDACTED - 1);
			o += sizeof LOG_REDACTED - 1;
		}
	}
	out[o] = '\0';
	free(hide);
	return (out);
}

/* Escape control characters so remote text cannot forge log lines. */
static void
log_write_escaped(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = *s;
		if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

void
log_msg(enum log_level level, const char *func, const char *fmt, ...)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	FILE		*f = log_out != NULL ? log_out : stderr;
	va_list		 ap;
	char		*msg, *clean, ts[32];
	time_t		 t;
	struct tm	 tm;

	if ((int)level > log_verbosity)
		return;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	clean = log_redact(msg);
	free(msg);

	if (f != stderr) {
		t = time(NULL);
		gmtime_r(&t, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(f, "%s ", ts);
	}
	fprintf(f, "%s: %s: ", log_prog, names[level]);
	if (level == LOG_DEBUG)
		fprintf(f, "%s: ", func);
	log_write_escaped(f, clean);
	fputc('\n', f);
	fflush(f);
	free(clean);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: fatal: ", log_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(FLEET_EXIT_FAIL);
}

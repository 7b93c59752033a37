/* log.c: levelled logging with secret redaction and escaped text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"

#define LOG_MAX_SECRETS 16

static const char	*log_prog = "fleet";
static int		 log_verbosity = LOG_WARN;
static FILE		*log_out;
static char		*log_secrets[LOG_MAX_SECRETS];
static int		 log_nsecrets;

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
	int	 i;

	if (s == NULL || strlen(s) < 4)
		return;
	for (i = 0; i < log_nsecrets; i++)
		if (strcmp(log_secrets[i], s) == 0)
			return;
	if (log_nsecrets == LOG_MAX_SECRETS) {
		free(log_secrets[0]);
		memmove(log_secrets, log_secrets + 1,
		    (LOG_MAX_SECRETS - 1) * sizeof *log_secrets);
		log_nsecrets--;
	}
	log_secrets[log_nsecrets++] = xstrdup(s);
}

/* Copy of s with every known secret replaced by "[REDACTED]". */
char *
log_redact(const char *s)
{
	char		*out, *p, *hit;
	const char	*sec;
	size_t		 n, slen;
	int		 i;

	out = xstrdup(s);
	for (i = 0; i < log_nsecrets; i++) {
		sec = log_secrets[i];
		slen = strlen(sec);
		while ((hit = strstr(out, sec)) != NULL) {
			n = strlen(out) - slen + sizeof "[REDACTED]";
			p = xmalloc(n);
			memcpy(p, out, hit - out);
			memcpy(p + (hit - out), "[REDACTED]", 10);
			strcpy(p + (hit - out) + 10, hit + slen);
			free(out);
			out = p;
		}
	}
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

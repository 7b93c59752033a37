/* parse.c: strict parsers and formatters for durations, money and ports. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"

/* Durations beyond a century are typos, and keep now + d from overflowing. */
#define DURATION_MAX	(36500LL * 86400)

/* Whole dollars above this are typos too; it keeps the arithmetic exact. */
#define MONEY_MAX_DIGITS	9

#define SHOW_MAX	64

static const struct {
	char	 unit;
	int64_t	 secs;
} duration_units[] = {
	{ 'd', 86400 },
	{ 'h', 3600 },
	{ 'm', 60 },
	{ 's', 1 },
};

/*
 * Printable, bounded copy of user input for an error message: a YAML
 * double-quoted scalar can carry control characters.
 */
static char *
show(const char *s)
{
	char	*out, *p;
	size_t	 i;

	out = p = xmalloc(SHOW_MAX * 4 + 4);
	for (i = 0; s[i] != '\0'; i++) {
		if (i == SHOW_MAX) {
			memcpy(p, "...", 3);
			p += 3;
			break;
		}
		if (isprint((unsigned char)s[i]))
			*p++ = s[i];
		else
			p += sprintf(p, "\\x%02x", (unsigned char)s[i]);
	}
	*p = '\0';
	return (out);
}

/* Set *cause to "invalid WHAT 'INPUT': REASON" and return -1. */
static int
parse_fail(char **cause, const char *what, const char *input,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
parse_fail(char **cause, const char *what, const char *input,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*reason, *shown;

	if (cause == NULL)
		return (-1);
	va_start(ap, fmt);
	xvasprintf(&reason, fmt, ap);
	va_end(ap);
	shown = show(input);
	xasprintf(cause, "invalid %s '%s': %s", what, shown, reason);
	free(shown);
	free(reason);
	return (-1);
}

/* Describe a character that does not belong, for error messages. */
static const char *
show_char(char c, char buf[8])
{
	if (c == ' ')
		return ("space");
	if (isprint((unsigned char)c))
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "\\x%02x", (unsigned char)c);
	return (buf);
}

static int
duration_unit(char c, size_t *idx)
{
	size_t	 i;

	for (i = 0; i < nitems(duration_units); i++) {
		if (duration_units[i].unit == c) {
			*idx = i;
			return (0);
		}
	}
	return (-1);
}

/* One "<digits><unit>" component; advances *sp and updates *next (order). */
static int
duration_component(const char *s, const char **sp, size_t *next,
    int64_t *total, char **cause)
{
	const char	*p = *sp;
	int64_t		 n = 0, mult;
	size_t		 idx;
	char		 buf[8];

	if (!isdigit((unsigned char)*p)) {
		if (duration_unit(*p, &idx) == 0)
			return (parse_fail(cause, "duration", s,
			    "expected a number before '%c'", *p));
		return (parse_fail(cause, "duration", s, "unexpected %s",
		    show_char(*p, buf)));
	}
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (DURATION_MAX - (*p - '0')) / 10)
			return (parse_fail(cause, "duration", s,
			    "too large (at most 36500d)"));
		n = n * 10 + (*p - '0');
	}
	if (*p == '\0')
		return (parse_fail(cause, "duration", s,
		    "missing unit after '%" PRId64 "' (use s, m, h, d)", n));
	if (*p == '.' || *p == ',')
		return (parse_fail(cause, "duration", s,
		    "fractions are not allowed (write 1h30m, not 1.5h)"));
	if (duration_unit(*p, &idx) != 0)
		return (parse_fail(cause, "duration", s,
		    "unknown unit %s (use s, m, h, d)", show_char(*p, buf)));
	if (idx < *next)
		return (parse_fail(cause, "duration", s,
		    "unit '%c' repeated or out of order (use d, h, m, s "
		    "in that order, each once)", *p));
	mult = duration_units[idx].secs;
	if (n > (DURATION_MAX - *total) / mult)
		return (parse_fail(cause, "duration", s,
		    "too large (at most 36500d)"));
	*total += n * mult;
	*next = idx + 1;
	*sp = p + 1;
	return (0);
}

/*
 * Parse "90s", "20m", "1h30m", "1d": units in descending order, each at
 * most once. A bare number is refused (is "45" seconds or minutes?) except
 * "0", which means the same in every unit.
 */
int
parse_duration(const char *s, int64_t *secs, char **cause)
{
	const char	*p;
	int64_t		 total = 0;
	size_t		 next = 0;

	if (s == NULL || *s == '\0')
		return (parse_fail(cause, "duration", "", "empty value"));
	if (strcmp(s, "0") == 0) {
		*secs = 0;
		return (0);
	}
	p = s;
	while (*p != '\0') {
		if (duration_component(s, &p, &next, &total, cause) != 0)
			return (-1);
	}
	*secs = total;
	return (0);
}

/* Read up to max digits; returns how many were read. */
static int
read_digits(const char **sp, int max, int64_t *v)
{
	const char	*p = *sp;
	int		 n = 0;

	*v = 0;
	while (isdigit((unsigned char)*p) && n <= max) {
		*v = *v * 10 + (*p - '0');
		p++;
		n++;
	}
	*sp = p;
	return (n);
}

/*
 * Parse "0.60", "$0.60", "12": dollars with at most 4 decimals. The value is
 * built in units of 1/10000 so "0.1" is the same double as 1000/10000.0.
 */
int
parse_money(const char *s, double *usd, char **cause)
{
	const char	*p = s;
	int64_t		 whole, frac = 0;
	int		 nfrac = 0;
	char		 buf[8];

	if (s == NULL || *s == '\0')
		return (parse_fail(cause, "money", "", "empty value"));
	if (*p == '$')
		p++;
	if (*p == '-')
		return (parse_fail(cause, "money", s, "must not be negative"));
	if (*p == '\0')
		return (parse_fail(cause, "money", s, "missing amount"));
	if (!isdigit((unsigned char)*p))
		return (parse_fail(cause, "money", s,
		    "not a number (write e.g. 0.60 or $0.60)"));
	if (read_digits(&p, MONEY_MAX_DIGITS, &whole) > MONEY_MAX_DIGITS)
		return (parse_fail(cause, "money", s, "too large"));
	if (*p == '.') {
		p++;
		if ((nfrac = read_digits(&p, 4, &frac)) == 0)
			return (parse_fail(cause, "money", s,
			    "expected digits after '.'"));
		if (nfrac > 4)
			return (parse_fail(cause, "money", s,
			    "at most 4 decimal places"));
	}
	if (*p != '\0')
		return (parse_fail(cause, "money", s, "unexpected %s",
		    show_char(*p, buf)));
	while (nfrac++ < 4)
		frac *= 10;
	*usd = (double)(whole * 10000 + frac) / 10000.0;
	return (0);
}

/* Strict decimal integer: optional '-', digits, nothing else. */
int
parse_int(const char *s, long long min, long long max, long long *v,
    char **cause)
{
	const char	*p = s;
	char		*end;
	long long	 n;

	if (s == NULL || *s == '\0')
		return (parse_fail(cause, "number", "", "empty value"));
	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return (parse_fail(cause, "number", s, "not a number"));
	errno = 0;
	n = strtoll(s, &end, 10);
	if (*end != '\0')
		return (parse_fail(cause, "number", s, "not a number"));
	if (errno == ERANGE || n < min || n > max)
		return (parse_fail(cause, "number", s,
		    "must be between %lld and %lld", min, max));
	*v = n;
	return (0);
}

int
parse_port(const char *s, int *port, char **cause)
{
	long long	 n = 0;
	char		*why = NULL;

	if (parse_int(s, 1, 65535, &n, &why) != 0) {
		free(why);
		return (parse_fail(cause, "port", s != NULL ? s : "",
		    "must be a number between 1 and 65535"));
	}
	*port = (int)n;
	return (0);
}

/* 5400 -> "1h30m", 0 -> "0s"; negative values keep their sign. */
char *
format_duration(int64_t secs)
{
	char		 buf[64];
	size_t		 i, len = 0;
	uint64_t	 left, n;

	if (secs == 0)
		return (xstrdup("0s"));
	if (secs < 0) {
		buf[len++] = '-';
		left = (uint64_t)0 - (uint64_t)secs;
	} else
		left = (uint64_t)secs;
	for (i = 0; i < nitems(duration_units); i++) {
		n = left / (uint64_t)duration_units[i].secs;
		if (n == 0)
			continue;
		left -= n * (uint64_t)duration_units[i].secs;
		len += snprintf(buf + len, sizeof buf - len, "%" PRIu64 "%c",
		    n, duration_units[i].unit);
	}
	return (xstrdup(buf));
}

/*
 * The one money format: "$12.50" from $1 up, "$0.0087" below, so a
 * sub-dollar price keeps the digits that tell two offers apart; zero is
 * "$0.00". Writes into buf (MONEY_BUFSZ) and returns it.
 */
const char *
money_fmt(char *buf, double usd)
{
	const char	*sign = "";

	if (isnan(usd)) {
		snprintf(buf, MONEY_BUFSZ, "$?");
		return (buf);
	}
	if (usd < 0) {
		sign = "-";
		usd = -usd;
	}
	/* 0.99996 rounds to 1.0000: that is $1.00. */
	if (usd != 0 && round(usd * 10000) < 10000)
		snprintf(buf, MONEY_BUFSZ, "%s$%.4f", sign, usd);
	else
		snprintf(buf, MONEY_BUFSZ, "%s$%.2f", sign, usd);
	return (buf);
}

char *
format_money(double usd)
{
	char	buf[MONEY_BUFSZ];

	return (xstrdup(money_fmt(buf, usd)));
}

/* ASCII only, whatever the locale says. */
static int
name_char(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
}

/*
 * Deployment and template names: [a-z0-9][a-z0-9.-]{0,62} without "..".
 * They become file names, provider labels and Host names, so keep them dull.
 */
int
name_is_valid(const char *s)
{
	size_t	 i;

	if (s == NULL || !name_char(s[0]))
		return (0);
	for (i = 1; s[i] != '\0'; i++) {
		if (i >= 63)
			return (0);
		if (!name_char(s[i]) && s[i] != '.' && s[i] != '-')
			return (0);
		if (s[i] == '.' && s[i - 1] == '.')
			return (0);
	}
	return (1);
}

/* proxy-tls.c: verified TLS to https upstreams (RunPod's proxy and kin). */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "fleet.h"
#include "proxy-int.h"

/* One client context: system CAs plus ca_file, peers always verified. */
SSL_CTX *
proxy_tls_ctx(const char *ca_file, char **cause)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		xasprintf(cause, "SSL_CTX_new failed");
		return (NULL);
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		log_warn("no system CA store");
	if (ca_file != NULL &&
	    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		xasprintf(cause, "%s: cannot load CA file", ca_file);
		SSL_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

/* An unconnected TLS bufferevent that checks u->host's certificate. */
struct bufferevent *
proxy_tls_bev(struct proxy *px, const struct proxy_url *u)
{
	struct bufferevent	*bev;
	unsigned char		 ip[16];
	SSL			*ssl;
	int			 literal;

	if ((ssl = SSL_new(px->ssl_ctx)) == NULL)
		return (NULL);
	literal = inet_pton(AF_INET, u->host, ip) == 1 ||
	    inet_pton(AF_INET6, u->host, ip) == 1;
	if (literal)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host);
	else if (SSL_set_tlsext_host_name(ssl, u->host) != 1 ||
	    SSL_set1_host(ssl, u->host) != 1) {
		SSL_free(ssl);
		return (NULL);
	}
	bev = bufferevent_openssl_socket_new(px->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return (NULL);
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return (bev);
}

/* Why a TLS upstream failed: verify result or OpenSSL error; 0 if not TLS. */
int
proxy_tls_explain(struct bufferevent *bev, char *buf, size_t size)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long	 e, last = 0;
	long		 v;

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		last = e;
	if (ssl != NULL && (v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(buf, size, "certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
		return (1);
	}
	if (last != 0) {
		ERR_error_string_n(last, buf, size);
		return (1);
	}
	return (0);
}

/* http-enqueue.c -- a small HTTP service on libevent's evhttp that turns
 * requests into tq jobs through the async client: one event_base runs the
 * HTTP server and the two Redis connections, and nothing ever blocks.
 *
 *   http-enqueue [--listen HOST:PORT] [--redis URL] [--namespace NS]
 *                (defaults: 127.0.0.1:8080, $TQ_REDIS_URL, $TQ_NAMESPACE)
 *
 *   POST   /jobs/TASK[?queue=Q]  body = the args (JSON)  -> 202 {"id": "..."}
 *   GET    /jobs/ID                                       -> 200 the job's record
 *   GET    /jobs/ID?wait=MS      waits up to MS for it to finish (504 if not)
 *   DELETE /jobs/ID              cancels it               -> 202 {"id", "was"}
 *
 * Errors: 400 for invalid input (tq's message, with line and column for bad
 * JSON), 404 for no such job, 503 when Redis is unreachable; the body is
 * {"error": "..."}. With port 0 the kernel picks one; the first line on
 * stdout says where it listens. SIGINT or SIGTERM stops it cleanly.
 *
 * Build: cc $(pkg-config --cflags tq) -o http-enqueue http-enqueue.c $(pkg-config --libs tq)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <tq/async.h>

typedef struct app {
    struct event_base *base;
    struct evhttp *http;
    tq_async *tq;
} app;

/* One request waiting for tq. If the HTTP client goes away first, req is
 * cleared and the answer is dropped: tq calls every callback once, so this
 * is freed there either way. */
typedef struct pending {
    struct evhttp_request *req;
    struct evhttp_connection *conn;
} pending;

/* ---------------------------------------------------------------- replies */

static void reply_json(struct evhttp_request *req, int code, const char *reason,
                       const char *json)
{
    struct evbuffer *body = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (body) {
        evbuffer_add_printf(body, "%s\n", json);
        evhttp_send_reply(req, code, reason, body);
        evbuffer_free(body);
    } else {
        evhttp_send_error(req, 500, "out of memory");
    }
}

/* {"error": text}, JSON-escaped by jansson. */
static void reply_error(struct evhttp_request *req, int code, const char *reason,
                        const char *text)
{
    json_t *o = json_pack("{s:s}", "error", text);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    reply_json(req, code, reason, s ? s : "{\"error\":\"out of memory\"}");
    free(s);
    json_decref(o);
}

/* The HTTP status of a tq error. */
static void reply_tq_error(struct evhttp_request *req, int err, const char *text)
{
    switch (err) {
    case TQ_EINVAL:    reply_error(req, 400, "Bad Request", text); break;
    case TQ_ENOTFOUND: reply_error(req, 404, "Not Found", text); break;
    case TQ_ETIMEDOUT: reply_error(req, 504, "Gateway Timeout", text); break;
    case TQ_EREDIS:    reply_error(req, 503, "Service Unavailable", text); break;
    default:           reply_error(req, 500, "Internal Server Error", text); break;
    }
}

/* ---------------------------------------------------------------- pending requests */

static void on_conn_closed(struct evhttp_connection *conn, void *arg)
{
    pending *p = arg;
    (void)conn;
    p->req = NULL; /* evhttp frees the request: never answer it */
}

static pending *pending_new(struct evhttp_request *req)
{
    pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->req = req;
    p->conn = evhttp_request_get_connection(req);
    evhttp_connection_set_closecb(p->conn, on_conn_closed, p);
    return p;
}

/* The request to answer, or NULL if its client left; frees p. */
static struct evhttp_request *pending_end(pending *p)
{
    struct evhttp_request *req = p->req;
    if (req)
        evhttp_connection_set_closecb(p->conn, NULL, NULL);
    free(p);
    return req;
}

/* ---------------------------------------------------------------- tq callbacks */

static void submitted(tq_async *a, int err, const char *id, void *ud)
{
    struct evhttp_request *req = pending_end(ud);
    if (!req)
        return;
    if (err) {
        reply_tq_error(req, err, tq_async_errstr(a));
        return;
    }
    char loc[64], json[80];
    snprintf(loc, sizeof loc, "/jobs/%s", id);
    snprintf(json, sizeof json, "{\"id\":\"%s\"}", id); /* ids are URL-safe */
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
    reply_json(req, 202, "Accepted", json);
}

static void got_job(tq_async *a, int err, const tq_job *job, void *ud)
{
    struct evhttp_request *req = pending_end(ud);
    if (!req)
        return;
    if (err) {
        reply_tq_error(req, err, tq_async_errstr(a));
        return;
    }
    char *s = tq_job_json(job);
    if (s)
        reply_json(req, 200, "OK", s);
    else
        reply_error(req, 500, "Internal Server Error", "out of memory");
    free(s);
}

static void cancelled(tq_async *a, int err, tq_state before, void *ud)
{
    struct evhttp_request *req = pending_end(ud);
    if (!req)
        return;
    if (err) {
        reply_tq_error(req, err, tq_async_errstr(a));
        return;
    }
    reply_json(req, 202, "Accepted", before == TQ_STATE_ACTIVE
               ? "{\"was\":\"active\",\"note\":\"its worker stops it\"}"
               : before == TQ_STATE_SUCCEEDED || before == TQ_STATE_FAILED ||
                 before == TQ_STATE_CANCELLED
               ? "{\"note\":\"already finished: nothing done\"}"
               : "{\"note\":\"cancelled\"}");
}

/* ---------------------------------------------------------------- routes */

/* The request body as a NUL-terminated string (NULL when empty). */
static char *body_text(struct evhttp_request *req, int *oom)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *s;

    *oom = 0;
    if (n == 0)
        return NULL;
    if (!(s = malloc(n + 1))) {
        *oom = 1;
        return NULL;
    }
    evbuffer_copyout(in, s, n);
    s[n] = '\0';
    return s;
}

/* Starts the tq call of one request; answers at once when it is refused. */
static void route(struct evhttp_request *req, void *arg)
{
    app *ap = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = evhttp_uri_get_path(uri);
    const char *query = evhttp_uri_get_query(uri);
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    struct evkeyvalq params;
    pending *p;
    int rv;

    if (!path || strncmp(path, "/jobs/", 6) != 0 || !path[6] || strchr(path + 6, '/')) {
        reply_error(req, 404, "Not Found", "try POST /jobs/TASK or GET /jobs/ID");
        return;
    }
    /* the task (POST) or the job id, %-decoded: tq checks it */
    char *name = evhttp_uridecode(path + 6, 0, NULL);
    if (!name) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    if (evhttp_parse_query_str(query ? query : "", &params) != 0) {
        reply_error(req, 400, "Bad Request", "cannot parse the query string");
        free(name);
        return;
    }
    if (!(p = pending_new(req))) {
        evhttp_clear_headers(&params);
        evhttp_send_error(req, 500, "out of memory");
        free(name);
        return;
    }

    if (method == EVHTTP_REQ_POST) {
        tq_submit_opts o;
        int oom;
        char *args = body_text(req, &oom);
        tq_submit_opts_init(&o);
        const char *queue = evhttp_find_header(&params, "queue");
        if (queue)
            o.queue = queue;
        rv = oom ? TQ_ENOMEM : tq_async_submit(ap->tq, name, args, &o, submitted, p);
        free(args); /* the call copied what it needs */
    } else if (method == EVHTTP_REQ_GET) {
        const char *wait = evhttp_find_header(&params, "wait");
        if (wait)
            rv = tq_async_wait(ap->tq, name, atoll(wait), got_job, p);
        else
            rv = tq_async_status(ap->tq, name, got_job, p);
    } else if (method == EVHTTP_REQ_DELETE) {
        rv = tq_async_cancel(ap->tq, name, cancelled, p);
    } else {
        rv = TQ_EINVAL;
    }
    evhttp_clear_headers(&params);
    free(name); /* every call copies what it keeps */
    if (rv != 0) {
        /* refused: the callback will not be called, answer now */
        struct evhttp_request *r = pending_end(p);
        if (method != EVHTTP_REQ_POST && method != EVHTTP_REQ_GET &&
            method != EVHTTP_REQ_DELETE)
            reply_error(r, 405, "Method Not Allowed", "use POST, GET or DELETE");
        else
            reply_tq_error(r, rv, rv == TQ_ENOMEM ? "out of memory" : tq_async_errstr(ap->tq));
    }
}

/* ---------------------------------------------------------------- main */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig; (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:8080";
    const char *url = getenv("TQ_REDIS_URL"), *ns = getenv("TQ_NAMESPACE");
    char host[256];
    int port, status = 1;
    app ap = {0};

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--listen"))
            listen = argv[i + 1];
        else if (!strcmp(argv[i], "--redis"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--namespace"))
            ns = argv[i + 1];
        else
            break;
    }
    if (argc % 2 == 0 || sscanf(listen, "%255[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "usage: http-enqueue [--listen HOST:PORT] [--redis URL] "
                        "[--namespace NS]\n");
        return 2;
    }

    struct event_base *base = event_base_new();
    if (!base)
        return 1;
    ap.base = base;
    ap.tq = tq_async_new(base, url, ns);
    if (!ap.tq || tq_async_err(ap.tq) == TQ_EINVAL) {
        fprintf(stderr, "http-enqueue: %s\n", ap.tq ? tq_async_errstr(ap.tq) : "out of memory");
        goto done;
    }
    /* TQ_EREDIS here only means the first attempt failed: it keeps trying */

    ap.http = evhttp_new(base);
    struct evhttp_bound_socket *sock =
        ap.http ? evhttp_bind_socket_with_handle(ap.http, host, (ev_uint16_t)port) : NULL;
    if (!sock) {
        fprintf(stderr, "http-enqueue: cannot listen on %s\n", listen);
        goto done;
    }
    evhttp_set_allowed_methods(ap.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(ap.http, route, &ap);

    struct sockaddr_storage ss;
    ev_socklen_t sslen = sizeof ss;
    char addr[128] = "?";
    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sslen) == 0)
        evutil_inet_ntop(ss.ss_family, ss.ss_family == AF_INET
                             ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                             : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr,
                         addr, sizeof addr);
    printf("listening on http://%s:%d\n", addr,
           ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                   : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    fflush(stdout);

    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    if (sigint && sigterm && evsignal_add(sigint, NULL) == 0 &&
        evsignal_add(sigterm, NULL) == 0) {
        event_base_dispatch(base);
        status = 0;
    }
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
done:
    /* tq first: requests still waiting get their callbacks (TQ_ECANCELLED)
     * while their connections are alive, and answer 500 */
    tq_async_free(ap.tq);
    if (ap.http)
        evhttp_free(ap.http);
    event_base_free(base);
    return status;
}

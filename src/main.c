/* main.c — trigd's command line, signals and the loop. */
#include <ev.h>
#include <getopt.h>
#ifdef HAVE_MIMALLOC
#include <mimalloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "lambda_api.h"
#include "config.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "registry.h"
#include "util.h"

struct app {
    struct ev_loop *loop;
    struct trg_engine *engine;
    struct trg_notify *notify;
    const char *config_path;  /* NULL: the embedded default */
    ev_signal sigterm, sigint, sighup;
    ev_timer log_flush; /* tells what rate-limited log lines held back (log.h) */
    int signals;
};

static void on_log_flush(struct ev_loop *loop, ev_timer *w, int revents) { trg_log_flush(false); }

/* The malloc trigd runs on: mimalloc's version (linked in, see configure --without-mimalloc) or libc. */
static const char *allocator(void)
{
#ifdef HAVE_MIMALLOC
    static char name[32];
    int v = mi_version();
    snprintf(name, sizeof name, "mimalloc %d.%d.%d", v / 100, v / 10 % 10, v % 10);
    return name;
#else
    return "libc";
#endif
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: trigd [-c FILE] [--check-config]\n"
            "       trigd --version | --help\n"
            "\n"
            "A Lambda-style event-source router: webhooks and other sources to functions, with batching,\n"
            "retries, partial batch failures and a dead-letter queue.\n"
            "\n"
            "  -c, --config FILE   the JSON config (default: the embedded quick-start config)\n"
            "      --check-config  validate the config, print every error as FILE: $.path: message, exit 0 or 2\n"
            "      --print-default-config  print the embedded config and exit\n"
            "  -V, --version       print the version\n"
            "  -h, --help          this text\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the config file.\n"
            "Docs: trigd(8), trigd.json(5), trigctl(1), docs/CONFIGURATION.md.\n");
}

static int load(const char *path, struct trg_config **out)
{
    struct trg_errs errs = {0};
    int rc = path ? trg_config_load_file(path, out, &errs)
                  : trg_config_load_text(trg_default_config, strlen(trg_default_config), "<embedded>", out, &errs);
    for (size_t i = 0; i < errs.lines.n; i++)
        fprintf(stderr, "%s\n", errs.lines.v[i]);
    trg_errs_free(&errs);
    return rc;
}

static void on_drained(void *arg)
{
    struct app *app = arg;
    ev_break(app->loop, EVBREAK_ALL);
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct app *app = w->data;
    if (app->signals++ == 0) {
        trg_info("trigd", NULL, "received %s: shutting down", strsignal(w->signum));
        trg_notify_stopping(app->notify, "draining: finishing in-flight work before exit");
        trg_engine_shutdown(app->engine, on_drained, app);
    } else {
        trg_warn("trigd", NULL, "received %s again: exiting now, abandoning unfinished work", strsignal(w->signum));
        ev_break(app->loop, EVBREAK_ALL);
    }
}

static void on_reload(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct app *app = w->data;
    if (!app->config_path) {
        trg_warn("trigd", NULL, "SIGHUP: running on the embedded config, nothing to reload (start with -c FILE)");
        return;
    }
    trg_info("trigd", NULL, "SIGHUP: reloading %s", app->config_path);
    trg_notify_reloading(app->notify);
    struct trg_config *c;
    if (load(app->config_path, &c) != 0) {
        trg_error("trigd", NULL, "the new config has errors (printed above): keeping the running one");
        trg_notify_reloaded(app->notify, "reload refused: the new config has errors (see the log); "
                                         "running the previous one");
        return;
    }
    int rc = trg_engine_reload(app->engine, c);
    if (rc < 0) {
        trg_error("trigd", NULL, "cannot apply the new config: keeping the running one");
        trg_notify_reloaded(app->notify, "reload refused: cannot apply the new config (see the log); "
                                         "running the previous one");
        return;
    } else if (rc > 0) {
        trg_error("trigd", NULL, "the new config is applied, but %d source(s) could not start (logged above): "
                  "they take no events and /readyz answers 503 until a reload starts them", rc);
    }
    trg_notify_reloaded(app->notify, "running; config reloaded");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'k'},
        {"print-default-config", no_argument, NULL, 'p'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct app app = {0};
    bool check = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': app.config_path = optarg; break;
        case 'k': check = true; break;
        case 'p': fputs(trg_default_config, stdout); return 0;
        case 'V':
            printf("trigd %s (malloc: %s, service notification: %s)\n", PACKAGE_VERSION, allocator(),
                   trg_notify_backend());
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "trigd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    trg_json_init_hooks();
    if (trg_registry_check() != 0)
        return 1;

    struct trg_config *conf;
    if (load(app.config_path, &conf) != 0)
        return 2;
    if (check) {
        printf("%s: ok\n", conf->path);
        trg_config_free(conf);
        return 0;
    }
    trg_log_setup((enum trg_log_level)conf->log.level, (enum trg_log_format)conf->log.format, stderr);
    signal(SIGPIPE, SIG_IGN);

    /* Not the default loop: it would reap every child itself, and exec functions need their rusage. */
    app.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
    if (!app.loop) {
        fprintf(stderr, "trigd: cannot create the event loop\n");
        trg_config_free(conf);
        return 1;
    }
    int rc = trg_engine_create(app.loop, conf, NULL, &app.engine); /* takes conf, also when it fails */
    conf = NULL;
    if (rc != 0) {
        ev_loop_destroy(app.loop);
        return 1;
    }
    /* Before the sources start: a webhook path under /admin/ is refused, not the admin API. */
    struct trg_lambda_api *lambda_api = NULL;
    if (trg_admin_register(app.engine, trg_engine_http(app.engine)) != 0 ||
        trg_lambda_api_register(app.engine, trg_engine_http(app.engine), &lambda_api) != 0) {
        trg_lambda_api_stop(lambda_api);
        trg_engine_destroy(app.engine);
        trg_lambda_api_destroy(lambda_api);
        ev_loop_destroy(app.loop);
        return 1;
    }
    ev_signal_init(&app.sigterm, on_stop, SIGTERM);
    ev_signal_init(&app.sigint, on_stop, SIGINT);
    ev_signal_init(&app.sighup, on_reload, SIGHUP);
    app.sigterm.data = app.sigint.data = app.sighup.data = &app;
    ev_signal_start(app.loop, &app.sigterm);
    ev_signal_start(app.loop, &app.sigint);
    ev_signal_start(app.loop, &app.sighup);
    ev_timer_init(&app.log_flush, on_log_flush, 1., 1.);
    ev_timer_start(app.loop, &app.log_flush);
    ev_unref(app.loop); /* it alone does not keep the loop running */

    if (trg_engine_start(app.engine) != 0) {
        trg_error("trigd", NULL, "a source could not start (see above): exiting");
        trg_lambda_api_stop(lambda_api);
        trg_engine_destroy(app.engine);
        trg_lambda_api_destroy(lambda_api);
        ev_loop_destroy(app.loop);
        return 1;
    }
    trg_info("trigd", NULL, "trigd %s (malloc: %s) started with %s", PACKAGE_VERSION, allocator(),
             app.config_path ? app.config_path : "the embedded quick-start config");
    /* Listening and every source started: systemd may start the units ordered after trigd. */
    app.notify = trg_notify_create(app.loop);
    trg_notify_ready(app.notify, "running");
    ev_run(app.loop, 0);

    /* Answers queued during the drain (sync webhooks, admin requests) still have to be written. */
    trg_http_stop_accepting(trg_engine_http(app.engine));
    for (int i = 0; i < 20; i++)
        ev_run(app.loop, EVRUN_NOWAIT);
    trg_lambda_api_stop(lambda_api);
    trg_engine_destroy(app.engine);
    trg_lambda_api_destroy(lambda_api); /* after the engine: its Event invocations hear the engine's last word */
    trg_notify_destroy(app.notify);
    ev_signal_stop(app.loop, &app.sigterm);
    ev_signal_stop(app.loop, &app.sigint);
    ev_signal_stop(app.loop, &app.sighup);
    ev_ref(app.loop);
    ev_timer_stop(app.loop, &app.log_flush);
    ev_loop_destroy(app.loop);
    trg_log_flush(true);
    trg_info("trigd", NULL, "stopped");
    return 0;
}

/* test_broker.c -- the pure parts of broker/: URL parsing, key names, the
 * script call builder, and the script table generated from broker/lua (no
 * Redis needed; TQ_SOURCE_DIR, set by the Makefile, is the source tree). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "unit.h"

#include "broker/broker.h"

static void test_url_defaults(void **state)
{
    tq_redis_addr a;
    tq_perr e;
    assert_int_equal(tq_redis_url_parse(NULL, &a, &e), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6379);
    assert_int_equal(a.db, 0);
    assert_string_equal(a.pass, "");
    assert_int_equal(tq_redis_url_parse("redis://example.org", &a, &e), 0);
    assert_string_equal(a.host, "example.org");
    assert_int_equal(a.port, 6379);
}

static void test_url_full(void **state)
{
    tq_redis_addr a;
    tq_perr e;
    assert_int_equal(tq_redis_url_parse("redis://bob:s3:cr@t@db.local:6390/4", &a, &e), 0);
    assert_string_equal(a.user, "bob");
    assert_string_equal(a.pass, "s3:cr@t");
    assert_string_equal(a.host, "db.local");
    assert_int_equal(a.port, 6390);
    assert_int_equal(a.db, 4);
    assert_int_equal(tq_redis_url_parse("redis://:pw@h:1/", &a, &e), 0);
    assert_string_equal(a.user, "");
    assert_string_equal(a.pass, "pw");
    assert_int_equal(a.db, 0);
}

static void test_url_unix(void **state)
{
    tq_redis_addr a;
    tq_perr e;
    assert_int_equal(tq_redis_url_parse("unix:///run/redis.sock?db=3", &a, &e), 0);
    assert_string_equal(a.path, "/run/redis.sock");
    assert_int_equal(a.db, 3);
    assert_int_equal(tq_redis_url_parse("unix://relative.sock", &a, &e), TQ_EINVAL);
    assert_non_null(strstr(e.text, "absolute"));
}

static void test_url_rejects_garbage(void **state)
{
    tq_redis_addr a;
    tq_perr e;
    const char *bad[] = {"http://x", "redis://", "redis://h:0", "redis://h:70000",
                         "redis://h:12ab", "redis://h/x", "redis://:6379",
                         "unix:///s?db=x", "127.0.0.1:6379",
                         "redis://\n\x1b[2J:6379", "redis://a b:6379",
                         "redis://host;rm:6379"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        e.text[0] = '\0';
        assert_int_equal(tq_redis_url_parse(bad[i], &a, &e), TQ_EINVAL);
        assert_true(strlen(e.text) > 0);
        assert_null(strchr(e.text, '\n'));
    }
}

static void test_url_accepts_host_names_and_addresses(void **state)
{
    tq_redis_addr a;
    tq_perr e;
    const char *good[] = {"redis://redis-1.internal_net.example:6379",
                          "redis://10.0.0.7:6380/2", "redis://localhost"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(tq_redis_url_parse(good[i], &a, &e), 0);
}

static void test_url_tls_and_sentinel_forms(void **state)
{
    tq_redis_addr a;
    tq_perr e;

    assert_int_equal(tq_redis_url_parse_any(
        "rediss://u:p%41ss@cache.example:6380/2?ca=/etc/ca.pem&sni=redis.internal&verify=0",
        &a, &e), 0);
    assert_true(a.tls);
    assert_int_equal(a.tls_verify, 0);
    assert_string_equal(a.host, "cache.example");
    assert_int_equal(a.port, 6380);
    assert_int_equal(a.db, 2);
    assert_string_equal(a.pass, "p%41ss"); /* passwords are taken as written */
    assert_string_equal(a.tls_ca, "/etc/ca.pem");
    assert_string_equal(a.tls_sni, "redis.internal");

    assert_int_equal(tq_redis_url_parse_any("rediss://h?cert=/c%2Epem&key=/k.pem", &a, &e), 0);
    assert_string_equal(a.tls_cert, "/c.pem");
    assert_int_equal(a.tls_verify, 1);

    assert_int_equal(tq_redis_url_parse_any(
        "redis+sentinel://:pw@s1:26380,s2,10.0.0.3:5000/mymaster/4?sentinel_pass=x%26y",
        &a, &e), 0);
    assert_int_equal(a.nsentinels, 3);
    assert_string_equal(a.sentinels[0].host, "s1");
    assert_int_equal(a.sentinels[0].port, 26380);
    assert_int_equal(a.sentinels[1].port, 26379);
    assert_string_equal(a.sentinels[2].host, "10.0.0.3");
    assert_string_equal(a.master, "mymaster");
    assert_int_equal(a.db, 4);
    assert_string_equal(a.pass, "pw");
    assert_string_equal(a.sentinel_pass, "x&y");
    assert_string_equal(a.host, "");
    assert_false(a.tls);

    assert_int_equal(tq_redis_url_parse_any("rediss+sentinel://s1/m?ca=/ca", &a, &e), 0);
    assert_true(a.tls);
    assert_int_equal(a.nsentinels, 1);

    /* rediss:// (broker/tls.c), redis+sentinel:// (broker/sentinel.c) and
     * both at once are reached */
    assert_int_equal(tq_redis_url_parse("rediss://h", &a, &e), 0);
    assert_int_equal(tq_redis_url_parse("redis+sentinel://s1/m", &a, &e), 0);
    assert_int_equal(a.nsentinels, 1);
    assert_string_equal(a.master, "m");
    assert_int_equal(tq_redis_url_parse("rediss+sentinel://s1,s2:26380/m/2?ca=/ca", &a, &e), 0);
    assert_true(a.tls);
    assert_int_equal(a.nsentinels, 2);
    assert_int_equal(a.sentinels[1].port, 26380);
    assert_string_equal(a.master, "m");
    assert_int_equal(a.db, 2);
    assert_string_equal(a.tls_ca, "/ca");
}

static void test_url_parameters_refused_with_their_name(void **state)
{
    tq_redis_addr a;
    tq_perr e;
    const struct {
        const char *url, *word;
    } bad[] = {
        {"redis://h?ca=/x", "rediss://"},
        {"redis://h?sentinel_pass=x", "sentinel"},
        {"rediss://h?verify=2", "0 or 1"},
        {"rediss://h?color=red", "not a parameter"},
        {"rediss://h?ca", "no '=value'"},
        {"rediss://h?cert=/c", "go together"},
        {"rediss://h?ca=%zz", "badly escaped"},
        {"rediss://h?ca=a%00b", "badly escaped"},
        {"redis+sentinel://s1", "no master"},
        {"redis+sentinel://s1,,s2/m", "no host"},
        {"redis+sentinel://s1,/m", "','"},
        {"redis+sentinel://s1,s2,", "','"},
        {"redis+sentinel://s1:0/m", "port"},
        {"redis://h?db=1", "unix://"},
        {"unix:///s?db=1&ca=/x", "rediss://"},
        {"redis://:hunter2@h?color=red", "not a parameter"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        e.text[0] = '\0';
        if (tq_redis_url_parse_any(bad[i].url, &a, &e) != TQ_EINVAL)
            fail_msg("accepted: %s", bad[i].url);
        assert_one_line(e.text);
        assert_contains(e.text, bad[i].word);
        assert_null(strstr(e.text, "hunter2"));
    }
}

static void test_keys_share_the_queue_tag(void **state)
{
    tq_qkeys *k = tq_qkeys_new("app", "mail");
    assert_non_null(k);
    assert_string_equal(k->job_prefix, "app:{mail}:j:");
    assert_string_equal(k->pending[0], "app:{mail}:p0");
    assert_string_equal(k->pending[9], "app:{mail}:p9");
    assert_string_equal(k->active, "app:{mail}:active");
    assert_string_equal(k->sched, "app:{mail}:sched");
    assert_string_equal(k->dead, "app:{mail}:dead");
    /* lib.lua builds group keys from the job key's base: same spelling */
    assert_string_equal(k->group_prefix, "app:{mail}:g:");
    assert_string_equal(k->members_prefix, "app:{mail}:gm:");
    assert_string_equal(k->wake, "app:{mail}:wake");
    tq_qkeys_free(k);
    tq_qkeys_free(NULL);

    tq_nskeys n;
    assert_int_equal(tq_nskeys_init(&n, "app"), 0);
    assert_string_equal(n.done_prefix, "app:done:");
    assert_string_equal(n.queues, "app:queues");
    assert_string_equal(n.cancel_chan, "app:cancel");
    tq_nskeys_clear(&n);

    char buf[16];
    assert_string_equal(tq_key_join(buf, sizeof buf, "a:i:", "xyz"), "a:i:xyz");
    assert_null(tq_key_join(buf, 8, "a:i:", "xyzxyz"));
}

static void test_cmd_keeps_copies_stable(void **state)
{
    tq_cmd c;
    tq_cmd_init(&c, TQ_SCRIPT_ACK);
    tq_cmd_key(&c, "k1");
    tq_cmd_key(&c, "k2");
    char big[3000];
    memset(big, 'x', sizeof big);
    /* enough numbers to need several arena blocks and argv growth */
    for (int i = 0; i < 2000; i++) {
        tq_cmd_argi(&c, i);
        if (i % 500 == 0)
            tq_cmd_argdup(&c, big, sizeof big);
    }
    assert_int_equal(c.oom, 0);
    assert_int_equal(c.nkeys, 2);
    assert_int_equal(c.argc, 3 + 2 + 2000 + 4);
    int n = 0;
    for (int i = 5; i < c.argc; i++) {
        if (c.argvlen[i] == sizeof big)
            continue;
        char want[16];
        snprintf(want, sizeof want, "%d", n++);
        assert_string_equal(c.argv[i], want);
    }
    assert_int_equal(n, 2000);
    tq_cmd_clear(&c);
}

static void test_scripts_have_sources(void **state)
{
    int standalone = 0;

    for (int s = 0; s < TQ_SCRIPT__COUNT; s++) {
        assert_int_equal(strlen(tq_script_sha(s)), 40);
        /* every script carries the prelude, whose finish() ends jobs, but
         * for those marked standalone */
        const char *src = tq_script_source(s);
        assert_true(strstr(src, "\nfinish = function(") != NULL ||
                    strstr(src, "\n-- (standalone") != NULL);
        assert_string_not_equal(tq_script_name(s), "?");
        standalone += strstr(src, "\nfinish = function(") == NULL;
    }
    /* the hot scripts carry it */
    assert_non_null(strstr(tq_script_source(TQ_SCRIPT_ACK), "\nfinish = function("));
    assert_non_null(strstr(tq_script_source(TQ_SCRIPT_CLAIM), "\nfinish = function("));
    assert_in_range(standalone, 1, TQ_SCRIPT__COUNT / 2);
}

/* The flags a script's shebang line declares ("" when none), in buf. */
static const char *flags_of(tq_script s, char *buf, size_t len)
{
    const char *src = tq_script_source(s);
    assert_memory_equal(src, "#!lua", 5);
    const char *nl = strchr(src, '\n');
    assert_non_null(nl);
    const char *f = strstr(src, "flags=");
    buf[0] = '\0';
    if (f && f < nl)
        snprintf(buf, len, "%.*s", (int)(nl - f - 6), f + 6);
    return buf;
}

/* Under OOM (maxmemory, noeviction) Redis refuses a shebang script that
 * declares neither allow-oom nor no-writes before it runs: no job may be
 * claimed or created that could not be acknowledged; the scripts that free
 * or settle run. */
static void test_scripts_declare_oom_flags(void **state)
{
    static const tq_script refused[] = {
        TQ_SCRIPT_CLAIM, TQ_SCRIPT_SUBMIT, TQ_SCRIPT_SUBMITN, TQ_SCRIPT_CHAIN,
        TQ_SCRIPT_GNEW, TQ_SCRIPT_RETRY, TQ_SCRIPT_QPAUSE,
        TQ_SCRIPT_PROGRESS, TQ_SCRIPT_LOGPUT,
    };
    static const tq_script allowed[] = {
        TQ_SCRIPT_ACK, TQ_SCRIPT_RENEW, TQ_SCRIPT_BEAT, TQ_SCRIPT_RECLAIM,
        TQ_SCRIPT_BURY, TQ_SCRIPT_CANCEL, TQ_SCRIPT_GCANCEL, TQ_SCRIPT_PURGE,
        TQ_SCRIPT_DLQPURGE, TQ_SCRIPT_QRESUME, TQ_SCRIPT_QRM,
    };
    char buf[128];
    for (int s = 0; s < TQ_SCRIPT__COUNT; s++)
        flags_of(s, buf, sizeof buf);
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        flags_of(refused[i], buf, sizeof buf);
        assert_null(strstr(buf, "allow-oom"));
        assert_null(strstr(buf, "no-writes"));
    }
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        assert_non_null(strstr(flags_of(allowed[i], buf, sizeof buf), "allow-oom"));
    assert_non_null(strstr(flags_of(TQ_SCRIPT_LOCATE, buf, sizeof buf), "no-writes"));
    assert_non_null(strstr(flags_of(TQ_SCRIPT_JOBS, buf, sizeof buf), "no-writes"));
}

/* ---------------------------------------------------------------- the generated table */

#ifndef TQ_SOURCE_DIR
#define TQ_SOURCE_DIR "."
#endif
#define LUA_DIR TQ_SOURCE_DIR "/broker/lua"

/* The text of a file of broker/lua, malloc'd. */
static char *lua_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.lua", LUA_DIR, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 20);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    assert_true(n > 0);
    fclose(f);
    return text;
}

/* The flags a file's "-- flags: a,b" line declares ("" when none), in buf. */
static const char *declared_flags(const char *text, char *buf, size_t len)
{
    buf[0] = '\0';
    const char *p = strncmp(text, "-- flags:", 9) ? strstr(text, "\n-- flags:") : text - 1;
    if (!p)
        return buf;
    p += 10;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, " \n");
    snprintf(buf, len, "%.*s", (int)n, p);
    return buf;
}

/* The SHA1 of s as sha1sum prints it. */
static void sha1_of(const char *s, char out[41])
{
    char path[] = "/tmp/tq-test-broker-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(s);
    assert_int_equal(write(fd, s, len), (ssize_t)len);
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "sha1sum %s", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, 41, p));
    pclose(p);
    unlink(path);
    assert_int_equal(strlen(out), 40);
}

/* Every file of broker/lua but the prelude is in the table once, under its
 * name, with the flags its header declares (in the table and in the
 * shebang line sent), and with the SHA1 of exactly the text sent. */
static void test_script_table_matches_lua_files(void **state)
{
    DIR *d = opendir(LUA_DIR);
    assert_non_null(d);
    int seen[TQ_SCRIPT__COUNT] = {0}, files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".lua") || !strcmp(de->d_name, "lib.lua"))
            continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(n - 4), de->d_name);
        files++;
        int found = -1;
        for (int s = 0; s < TQ_SCRIPT__COUNT; s++)
            if (!strcmp(tq_script_name(s), name))
                found = s;
        if (found < 0)
            fail_msg("broker/lua/%s has no entry in the script table", de->d_name);
        seen[found]++;

        char *text = lua_file(name);
        char want[128], shebang[160], sha[41];
        declared_flags(text, want, sizeof want);
        assert_string_equal(tq_script_flags(found), want);
        if (want[0])
            snprintf(shebang, sizeof shebang, "#!lua flags=%s\n", want);
        else
            snprintf(shebang, sizeof shebang, "#!lua\n");
        const char *src = tq_script_source(found);
        assert_memory_equal(src, shebang, strlen(shebang));
        /* the script's own text ends what is sent */
        size_t tl = strlen(text), sl = strlen(src);
        assert_true(sl >= tl);
        assert_string_equal(src + sl - tl, text);
        free(text);

        sha1_of(src, sha);
        assert_string_equal(tq_script_sha(found), sha);
    }
    closedir(d);
    assert_int_equal(files, TQ_SCRIPT__COUNT);
    for (int s = 0; s < TQ_SCRIPT__COUNT; s++)
        assert_int_equal(seen[s], 1);
    assert_string_equal(tq_script_name(TQ_SCRIPT__COUNT), "?");
    assert_string_equal(tq_script_flags(TQ_SCRIPT__COUNT), "");
}

/* The enum names the worker and the clients use name the scripts they mean. */
static void test_script_enum_names_are_stable(void **state)
{
    static const struct { tq_script s; const char *name; } want[] = {
        {TQ_SCRIPT_SUBMIT, "submit"},   {TQ_SCRIPT_CLAIM, "claim"},
        {TQ_SCRIPT_ACK, "ack"},         {TQ_SCRIPT_RENEW, "renew"},
        {TQ_SCRIPT_RECLAIM, "reclaim"}, {TQ_SCRIPT_BURY, "bury"},
        {TQ_SCRIPT_CANCEL, "cancel"},   {TQ_SCRIPT_WAITPREP, "waitprep"},
        {TQ_SCRIPT_RETRY, "retry"},     {TQ_SCRIPT_PURGE, "purge"},
        {TQ_SCRIPT_DLQPURGE, "dlqpurge"}, {TQ_SCRIPT_BEAT, "beat"},
        {TQ_SCRIPT_SEMSET, "semset"},   {TQ_SCRIPT_SUBMITN, "submitn"},
        {TQ_SCRIPT_CHAIN, "chain"},     {TQ_SCRIPT_GNEW, "gnew"},
        {TQ_SCRIPT_GSEAL, "gseal"},     {TQ_SCRIPT_GPREP, "gprep"},
        {TQ_SCRIPT_GCANCEL, "gcancel"}, {TQ_SCRIPT_LOCATE, "locate"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_string_equal(tq_script_name(want[i].s), want[i].name);
}

/* lib.lua's defaults are proto.h's: every script that carries the prelude
 * declares DEF_* with the TQ_DEFAULT_* values, and no placeholder is left. */
static void test_script_defaults_match_proto(void **state)
{
    char line[160];
    snprintf(line, sizeof line,
             "\nlocal DEF_RETRIES, DEF_BACKOFF, DEF_TTL, DEF_MAXLOST = %d, %d, %lld, %d\n",
             TQ_DEFAULT_RETRIES, TQ_DEFAULT_BACKOFF_MS,
             (long long)TQ_DEFAULT_RESULT_TTL_MS, TQ_DEFAULT_MAX_LOST);
    int with_prelude = 0;
    for (int s = 0; s < TQ_SCRIPT__COUNT; s++) {
        const char *src = tq_script_source(s);
        assert_null(strstr(src, "\n-- @defaults"));
        if (!strstr(src, "\nfinish = function("))
            continue;
        with_prelude++;
        assert_non_null(strstr(src, line));
        /* once */
        assert_null(strstr(strstr(src, line) + 1, "\nlocal DEF_RETRIES"));
    }
    assert_true(with_prelude > 0);
    /* the source file keeps the placeholder, not numbers */
    char *lib = lua_file("lib");
    assert_non_null(strstr(lib, "\n-- @defaults\n"));
    assert_null(strstr(lib, "\nlocal DEF_RETRIES"));
    free(lib);
}

static void test_reply_helpers_survive_odd_shapes(void **state)
{
    redisReply str = {.type = REDIS_REPLY_STRING, .str = "42", .len = 2};
    redisReply nil = {.type = REDIS_REPLY_NIL};
    redisReply num = {.type = REDIS_REPLY_INTEGER, .integer = 7};
    redisReply *els[] = {&str, &nil, &num, NULL};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 4, .element = els};
    long long v;
    size_t len;
    assert_string_equal(tq_reply_str(&arr, 0, &len), "42");
    assert_int_equal(len, 2);
    assert_null(tq_reply_str(&arr, 1, NULL));
    assert_null(tq_reply_str(&arr, 3, NULL));
    assert_null(tq_reply_str(&arr, 99, NULL));
    assert_null(tq_reply_str(&str, 0, NULL));
    assert_null(tq_reply_str(NULL, 0, NULL));
    assert_int_equal(tq_reply_int(&arr, 0, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(tq_reply_int(&arr, 2, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(tq_reply_int(&arr, 1, &v), -1);
    assert_int_equal(tq_reply_int(&arr, 3, &v), -1);
    redisReply ns = {.type = REDIS_REPLY_ERROR, .str = "NOSCRIPT No matching script"};
    assert_true(tq_reply_is_noscript(&ns));
    assert_false(tq_reply_is_noscript(&str));
}

/* The set-up every connection sends first, blocking or async. */
static void test_setup_commands(void **state)
{
    tq_redis_addr a;
    tq_redis_setup s;
    tq_perr e;
    char msg[128];

    assert_int_equal(tq_redis_url_parse("redis://h:1/0", &a, &e), 0);
    assert_int_equal(tq_redis_setup_init(&s, &a), 0);

    assert_int_equal(tq_redis_url_parse("redis://:pw@h:1/3", &a, &e), 0);
    assert_int_equal(tq_redis_setup_init(&s, &a), 2);
    assert_int_equal(s.cmd[0].argc, 2);
    assert_string_equal(s.cmd[0].argv[0], "AUTH");
    assert_string_equal(s.cmd[0].argv[1], "pw");
    assert_string_equal(s.cmd[0].what, "AUTH"); /* never the password */
    assert_int_equal(s.cmd[1].argc, 2);
    assert_string_equal(s.cmd[1].argv[0], "SELECT");
    assert_string_equal(s.cmd[1].argv[1], "3");
    assert_string_equal(s.cmd[1].what, "SELECT 3");

    assert_int_equal(tq_redis_url_parse("redis://bob:pw@h:1", &a, &e), 0);
    assert_int_equal(tq_redis_setup_init(&s, &a), 1);
    assert_int_equal(s.cmd[0].argc, 3);
    assert_string_equal(s.cmd[0].argv[1], "bob");
    assert_string_equal(s.cmd[0].argv[2], "pw");

    tq_redis_refused(msg, sizeof msg, s.cmd[0].what, "WRONGPASS invalid");
    assert_string_equal(msg, "Redis refused AUTH: WRONGPASS invalid");
}

static void test_addr_text(void **state)
{
    tq_redis_addr a;
    tq_perr e;
    char buf[300];

    assert_int_equal(tq_redis_url_parse("redis://:secret@db.local:6390/2", &a, &e), 0);
    tq_redis_addr_text(&a, buf, sizeof buf);
    assert_string_equal(buf, "db.local:6390");
    assert_int_equal(tq_redis_url_parse("unix:///tmp/r.sock", &a, &e), 0);
    tq_redis_addr_text(&a, buf, sizeof buf);
    assert_string_equal(buf, "unix:/tmp/r.sock");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_defaults),
        cmocka_unit_test(test_setup_commands),
        cmocka_unit_test(test_addr_text),
        cmocka_unit_test(test_url_full),
        cmocka_unit_test(test_url_unix),
        cmocka_unit_test(test_url_rejects_garbage),
        cmocka_unit_test(test_url_accepts_host_names_and_addresses),
        cmocka_unit_test(test_url_tls_and_sentinel_forms),
        cmocka_unit_test(test_url_parameters_refused_with_their_name),
        cmocka_unit_test(test_keys_share_the_queue_tag),
        cmocka_unit_test(test_cmd_keeps_copies_stable),
        cmocka_unit_test(test_scripts_have_sources),
        cmocka_unit_test(test_scripts_declare_oom_flags),
        cmocka_unit_test(test_script_table_matches_lua_files),
        cmocka_unit_test(test_script_enum_names_are_stable),
        cmocka_unit_test(test_script_defaults_match_proto),
        cmocka_unit_test(test_reply_helpers_survive_odd_shapes),
    };
    return cmocka_run_group_tests_name("broker", tests, NULL, NULL);
}

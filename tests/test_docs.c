/* The documentation against the code: every example config in etc/ passes
 * `zmqsink check`; man/zmqsink.yaml.5 documents every key of the core and
 * every option of each sink, with its type, default and choices, and
 * nothing that the code does not accept; man/zmqsink.3 documents every
 * function the headers export. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <dlfcn.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"
#include "plugin_host.h"

TestSuite(docs, .timeout = 60);

/* Longest line, term and option key looked at. */
#define LINE_MAX_LEN 1024
#define TERM_MAX 128

/* A path in the source tree; $ZMQSINK_TEST_SRCDIR is its tests/
 * directory. Caller frees. */
static char *source_path(const char *relative)
{
    const char *tests = getenv("ZMQSINK_TEST_SRCDIR");
    cr_assert_not_null(tests, "ZMQSINK_TEST_SRCDIR is not set (run through "
                              "make check)");
    char *path;
    cr_assert_geq(asprintf(&path, "%s/../%s", tests, relative), 0);
    return path;
}

/* ---- the example configs ---- */

/* Runs `zmqsink check path` with stderr joined to stdout; returns the exit
 * status and the output (caller frees). */
static int command_check(const char *path, char **output)
{
    const char *bin = getenv("ZMQSINK_BIN");
    cr_assert_not_null(bin, "ZMQSINK_BIN is not set (run through make check)");
    char *command;
    cr_assert_geq(asprintf(&command, "'%s' check '%s' 2>&1", bin, path), 0);
    FILE *pipe = popen(command, "r");
    cr_assert_not_null(pipe, "popen %s", command);
    size_t len = 0;
    FILE *text = open_memstream(output, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, pipe)) > 0)
        fwrite(chunk, 1, n, text);
    fclose(text);
    int status = pclose(pipe);
    free(command);
    cr_assert(WIFEXITED(status), "zmqsink check %s did not exit", path);
    return WEXITSTATUS(status);
}

/* Checks one example; returns whether it is valid, appending the output
 * of a failure to report. */
static bool example_valid(const char *path, FILE *report)
{
    char *output, *ok;
    int status = command_check(path, &output);
    cr_assert_geq(asprintf(&ok, "%s: ok\n", path), 0);
    bool valid = status == 0 && strstr(output, ok) != NULL;
    if (!valid)
        fprintf(report, "\n%s (exit %d):\n%s", path, status, output);
    free(ok);
    free(output);
    return valid;
}

Test(docs, every_example_config_passes_check)
{
    /* forward.yaml takes its webhook token from the environment, as a
     * deployment would; unset, check says so. */
    setenv("ZMQSINK_TOKEN", "test-token", 1);
    char *pattern = source_path("etc/*.yaml"), *failures = NULL;
    size_t failures_len = 0, failed = 0;
    FILE *report = open_memstream(&failures, &failures_len);
    glob_t found;
    cr_assert_eq(glob(pattern, 0, NULL, &found), 0, "nothing matches %s",
                 pattern);
    static const char *const expected[] = {"/zmqsink.yaml", "/run.yaml",
                                           "/watch.yaml", "/forward.yaml"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        bool present = false;
        for (size_t j = 0; j < found.gl_pathc; j++)
            present |= strstr(found.gl_pathv[j], expected[i]) != NULL;
        cr_expect(present, "etc%s is missing", expected[i]);
    }
    for (size_t i = 0; i < found.gl_pathc; i++) {
#ifndef ZMQSINK_TEST_NATS
        /* Its sink is built only where libnats is. */
        if (strstr(found.gl_pathv[i], "/nats.yaml"))
            continue;
#endif
#ifndef ZMQSINK_TEST_KAFKA
        /* Its sink is built only where librdkafka is. */
        if (strstr(found.gl_pathv[i], "/kafka.yaml"))
            continue;
#endif
        failed += !example_valid(found.gl_pathv[i], report);
    }
    fclose(report);
    cr_expect_eq(failed, 0, "%zu of %zu examples are invalid:%s", failed,
                 found.gl_pathc, failures);
    globfree(&found);
    free(failures);
    free(pattern);
}

/* ---- the man page ---- */

typedef struct page {
    char **lines;
    size_t n;
} page_t;

/* One tagged paragraph (.TP) of the page: its term, tag line and whole
 * text, without font escapes; lines [first, end) of the page. */
typedef struct entry {
    char term[TERM_MAX];
    char tag[LINE_MAX_LEN];
    size_t first, end;
} entry_t;

static page_t page_load(void)
{
    char *path = source_path("man/zmqsink.yaml.5");
    char *text = th_read_file(path);
    cr_assert_not_null(text, "%s is missing", path);
    page_t page = {0};
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        page.lines = realloc(page.lines, (page.n + 1) * sizeof *page.lines);
        cr_assert_not_null(page.lines);
        page.lines[page.n++] = strdup(line);
    }
    free(text);
    free(path);
    return page;
}

static void page_free(page_t *page)
{
    for (size_t i = 0; i < page->n; i++)
        free(page->lines[i]);
    free(page->lines);
}

/* Copies roff text as it reads: font changes and \& dropped, \- and \(dq
 * as typed. */
static void roff_plain(const char *in, char *out, size_t cap)
{
    static const struct {
        const char *escape, *text;
    } escapes[] = {{"\\fB", ""}, {"\\fI", ""}, {"\\fR", ""}, {"\\fP", ""},
                   {"\\&", ""},  {"\\c", ""},  {"\\-", "-"}, {"\\(dq", "\""},
                   {"\\e", "\\"}};
    size_t len = 0;
    while (*in && len + 1 < cap) {
        size_t i = 0, count = sizeof escapes / sizeof escapes[0];
        while (i < count && strncmp(in, escapes[i].escape,
                                    strlen(escapes[i].escape)) != 0)
            i++;
        if (i == count) {
            out[len++] = *in++;
            continue;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s", escapes[i].text);
        in += strlen(escapes[i].escape);
    }
    out[len] = '\0';
}

/* The first argument of a ".B" or ".BR" line, the term of a key's entry;
 * "" for other lines. */
static void line_term(const char *line, char *term, size_t cap)
{
    term[0] = '\0';
    const char *arg = !strncmp(line, ".B ", 3)    ? line + 3
                      : !strncmp(line, ".BR ", 4) ? line + 4
                                                  : NULL;
    if (!arg)
        return;
    bool quoted = *arg == '"';
    size_t len = strcspn(arg + quoted, quoted ? "\"" : " ");
    char raw[TERM_MAX];
    snprintf(raw, sizeof raw, "%.*s", (int)len, arg + quoted);
    roff_plain(raw, term, cap);
}

static bool line_is_heading(const char *line)
{
    return !strncmp(line, ".SH ", 4) || !strncmp(line, ".SS ", 4);
}

/* Lines [*from, *to) of the section or subsection titled title. */
static void page_section(const page_t *page, const char *title, size_t *from,
                         size_t *to)
{
    for (*from = 0; *from < page->n; (*from)++) {
        char plain[LINE_MAX_LEN];
        const char *line = page->lines[*from];
        if (!line_is_heading(line))
            continue;
        roff_plain(line + 4, plain, sizeof plain);
        size_t len = strlen(plain);
        bool quoted = len >= 2 && plain[0] == '"' && plain[len - 1] == '"';
        if (quoted ? !strncmp(plain + 1, title, len - 2) &&
                         strlen(title) == len - 2
                   : !strcmp(plain, title))
            break;
    }
    cr_assert_lt(*from, page->n, "zmqsink.yaml.5 has no section '%s'", title);
    for (*to = *from + 1; *to < page->n && !line_is_heading(page->lines[*to]);)
        (*to)++;
}

/* The next entry at or after line *at and before to; false when none. */
static bool section_next_entry(const page_t *page, size_t *at, size_t to,
                               entry_t *entry)
{
    for (; *at + 1 < to; (*at)++) {
        if (strcmp(page->lines[*at], ".TP") != 0)
            continue;
        const char *tag = page->lines[*at + 1];
        line_term(tag, entry->term, sizeof entry->term);
        if (!entry->term[0])
            continue;
        roff_plain(tag, entry->tag, sizeof entry->tag);
        entry->first = *at + 1;
        for (entry->end = entry->first + 1;
             entry->end < to && strcmp(page->lines[entry->end], ".TP") != 0;)
            entry->end++;
        *at = entry->end;
        return true;
    }
    return false;
}

/* The entry of term in a section; the test fails when there is none. */
static entry_t section_entry(const page_t *page, const char *title,
                             const char *term)
{
    size_t at, to;
    entry_t entry;
    page_section(page, title, &at, &to);
    while (section_next_entry(page, &at, to, &entry))
        if (!strcmp(entry.term, term))
            return entry;
    cr_assert_fail("zmqsink.yaml.5, section '%s': no entry for '%s'", title,
                   term);
    return entry;
}

/* Whether word stands alone (between blanks, punctuation or quotes) in
 * the entry's text. */
static bool entry_has_word(const page_t *page, const entry_t *entry,
                           const char *word)
{
    static const char separators[] = " \t,;()\"[]{}";
    size_t len = strlen(word);
    for (size_t i = entry->first; i < entry->end; i++) {
        char plain[LINE_MAX_LEN];
        roff_plain(page->lines[i], plain, sizeof plain);
        for (const char *p = strstr(plain, word); p; p = strstr(p + 1, word))
            if ((p == plain || strchr(separators, p[-1])) &&
                (!p[len] || strchr(separators, p[len]) ||
                 (p[len] == '.' && !p[len + 1])))
                return true;
    }
    return false;
}

/* Whether the tag says "default VALUE" with exactly this value. */
static bool tag_has_default(const char *tag, const char *value)
{
    size_t len = strlen(value);
    for (const char *p = strstr(tag, "default "); p;
         p = strstr(p + 1, "default ")) {
        const char *v = p + strlen("default ");
        if (!strncmp(v, value, len) && strchr(" ,;)", v[len]))
            return true;
    }
    return false;
}

/* The word a tag uses for an option type. */
static const char *type_word(zmqsink_option_type_t type)
{
    switch (type) {
    case ZMQSINK_OPT_STRING:
        return "string";
    case ZMQSINK_OPT_INT:
        return "integer";
    case ZMQSINK_OPT_BOOL:
        return "boolean";
    case ZMQSINK_OPT_DURATION:
        return "duration";
    case ZMQSINK_OPT_SIZE:
        return "size";
    case ZMQSINK_OPT_LIST:
        return "list";
    case ZMQSINK_OPT_MAP:
        return "mapping";
    case ZMQSINK_OPT_ENUM:
        break;
    }
    return NULL;
}

/* One option's entry: there, of its type, with its default, its choices,
 * and "required" when it is. */
static void option_documented(const page_t *page, const char *section,
                              const zmqsink_option_t *opt)
{
    entry_t e = section_entry(page, section, opt->key);
    const char *word = type_word(opt->type);
    /* A string that names a file reads better as a path. */
    cr_expect(!word || strstr(e.tag, word) ||
                  (opt->type == ZMQSINK_OPT_STRING && strstr(e.tag, "path")),
              "%s: %s: the tag '%s' does not say %s", section, opt->key, e.tag,
              word);
    cr_expect(!opt->fallback || tag_has_default(e.tag, opt->fallback),
              "%s: %s: the tag '%s' does not say 'default %s'", section,
              opt->key, e.tag, opt->fallback);
    cr_expect(!opt->required || strstr(e.tag, "required"),
              "%s: %s: the tag '%s' does not say 'required'", section,
              opt->key, e.tag);
    for (const char *p = opt->choices; p && *p;) {
        char choice[TERM_MAX];
        size_t len = strcspn(p, "|");
        snprintf(choice, sizeof choice, "%.*s", (int)len, p);
        cr_expect(entry_has_word(page, &e, choice),
                  "%s: %s: choice '%s' is not documented", section, opt->key,
                  choice);
        p += len + (p[len] == '|');
    }
}

/* Whether term is key, or a key nested under it ("queue.capacity" for
 * "queue"). */
static bool term_names_key(const char *term, const char *key)
{
    size_t len = strlen(key);
    return !strncmp(term, key, len) && (!term[len] || term[len] == '.');
}

/* Every key has an entry in the section, and every entry of the section
 * names a key: nothing is missing, nothing is left over. */
static void section_matches_keys(const page_t *page, const char *title,
                                 const char *const *keys, size_t nkeys)
{
    size_t at, to;
    entry_t entry;
    bool *seen = calloc(nkeys ? nkeys : 1, sizeof *seen);
    page_section(page, title, &at, &to);
    while (section_next_entry(page, &at, to, &entry)) {
        bool known = false;
        for (size_t i = 0; i < nkeys; i++)
            if (term_names_key(entry.term, keys[i]))
                known = seen[i] = true;
        cr_expect(known, "zmqsink.yaml.5, section '%s': '%s' is not a key "
                         "the code accepts",
                  title, entry.term);
    }
    for (size_t i = 0; i < nkeys; i++)
        cr_expect(seen[i], "zmqsink.yaml.5, section '%s': key '%s' is not "
                           "documented",
                  title, keys[i]);
    free(seen);
}

/* ---- the sinks' options ---- */

static void plugin_documented(const char *name)
{
    void *handle;
    const zmqsink_plugin_t *plugin = th_plugin_load(name, &handle);
    page_t page = page_load();
    char section[64];
    snprintf(section, sizeof section, "%s sink", name);
    const char *keys[TH_MAX_OPTIONS];
    size_t n = 0;
    for (const zmqsink_option_t *opt = plugin->options; opt && opt->key;
         opt++) {
        cr_assert_lt(n, TH_MAX_OPTIONS);
        keys[n++] = opt->key;
        option_documented(&page, section, opt);
    }
    cr_assert_gt(n, 0, "plugin %s declares no options", name);
    section_matches_keys(&page, section, keys, n);
    page_free(&page);
    dlclose(handle);
}

Test(docs, file_sink_options_are_documented)
{
    plugin_documented("file");
}

Test(docs, syslog_sink_options_are_documented)
{
    plugin_documented("syslog");
}

Test(docs, statsd_sink_options_are_documented)
{
    plugin_documented("statsd");
}

Test(docs, http_sink_options_are_documented)
{
    plugin_documented("http");
}

/* Built only where libmicrohttpd is; documented everywhere. */
#ifdef ZMQSINK_TEST_PROMETHEUS
Test(docs, prometheus_sink_options_are_documented)
{
    plugin_documented("prometheus");
}
#endif

/* Built only where libnats is; documented everywhere. */
#ifdef ZMQSINK_TEST_NATS
Test(docs, nats_sink_options_are_documented)
{
    plugin_documented("nats");
}
#endif

/* Built only where libsystemd is; documented everywhere. */
#ifdef ZMQSINK_TEST_JOURNALD
Test(docs, journald_sink_options_are_documented)
{
    plugin_documented("journald");
}
#endif

/* Built only where librdkafka is; documented everywhere. */
#ifdef ZMQSINK_TEST_KAFKA
Test(docs, kafka_sink_options_are_documented)
{
    plugin_documented("kafka");
}
#endif

/* ---- the core's keys ---- */

/* zmqsink_check() on yaml, written to a file of its own. Returns what it
 * returns, with its message in err. */
static int config_check(const char *yaml, char *err, size_t errlen)
{
    char *dir = th_tempdir();
    char *path = th_write_file(dir, "config.yaml", yaml);
    int rc = zmqsink_check(path, NULL, err, errlen);
    th_remove_tree(dir);
    free(path);
    free(dir);
    return rc;
}

/* The valid keys of one mapping of the core, as the config's own error
 * for an unknown key lists them ("...; valid keys: a, b, c"). yaml puts
 * the unknown key where the mapping goes. Returns the count; *keys and
 * *storage are the caller's to free. */
static size_t core_keys(const char *yaml, char ***keys, char **storage)
{
    char err[2048];
    cr_assert_neq(config_check(yaml, err, sizeof err), 0,
                  "an unknown key passed:\n%s", yaml);
    const char *list = strstr(err, "valid keys: ");
    cr_assert_not_null(list, "no list of valid keys in: %s", err);
    *storage = strdup(list + strlen("valid keys: "));
    size_t n = 0;
    *keys = NULL;
    for (char *save = NULL, *key = strtok_r(*storage, ", ", &save); key;
         key = strtok_r(NULL, ", ", &save)) {
        *keys = realloc(*keys, (n + 1) * sizeof **keys);
        (*keys)[n++] = key;
    }
    cr_assert_gt(n, 0, "empty list of valid keys in: %s", err);
    return n;
}

/* Checks a section against the keys the code lists for one mapping. */
static void core_section_documented(const char *title, const char *yaml)
{
    char **keys, *storage;
    size_t n = core_keys(yaml, &keys, &storage);
    page_t page = page_load();
    section_matches_keys(&page, title, (const char *const *)keys, n);
    page_free(&page);
    free(keys);
    free(storage);
}

Test(docs, top_level_keys_are_documented)
{
    core_section_documented("CORE OPTIONS", "zz_unknown: 1\n");
}

/* The keys of a nested mapping have entries named "prefix.key". */
static void nested_keys_documented(const char *title, const char *prefix,
                                   const char *yaml)
{
    char **keys, *storage;
    size_t n = core_keys(yaml, &keys, &storage);
    page_t page = page_load();
    for (size_t i = 0; i < n; i++) {
        char term[TERM_MAX];
        snprintf(term, sizeof term, "%s%s", prefix, keys[i]);
        section_entry(&page, title, term);
    }
    page_free(&page);
    free(keys);
    free(storage);
}

Test(docs, queue_keys_are_documented)
{
    nested_keys_documented("CORE OPTIONS", "queue.",
                           "queue: { zz_unknown: 1 }\n");
}

Test(docs, stats_keys_are_documented)
{
    nested_keys_documented("CORE OPTIONS", "stats.",
                           "stats: { zz_unknown: 1 }\n");
}

Test(docs, socket_rule_keys_are_documented)
{
    core_section_documented("Socket rules",
                            "sockets:\n  - { zz_unknown: 1 }\n");
}

Test(docs, probe_keys_are_documented)
{
    core_section_documented("Probes", "watch:\n  - { zz_unknown: 1 }\n");
}

Test(docs, probe_curve_keys_are_documented)
{
    nested_keys_documented("Probes", "curve.",
                           "watch:\n  - endpoint: tcp://127.0.0.1:5555\n"
                           "    curve: { zz_unknown: 1 }\n");
}

/* No error lists the keys the core reads in a sink (the plugin's options
 * are listed instead), so they are named here, and a sink that sets all
 * of them must pass check. */
Test(docs, sink_keys_are_documented_and_accepted)
{
    static const char *const keys[] = {"name",    "type",   "plugin",
                                       "events",  "sockets", "min_severity"};
    char *plugin = th_plugin_path("file"), *yaml, err[2048];
    cr_assert_geq(asprintf(&yaml,
                           "sinks:\n"
                           "  - name: all-keys\n"
                           "    type: file\n"
                           "    plugin: %s\n"
                           "    events: [errors, disconnected]\n"
                           "    sockets: [\"front*\"]\n"
                           "    min_severity: notice\n"
                           "    path: \"-\"\n",
                           plugin),
                  0);
    cr_assert_eq(config_check(yaml, err, sizeof err), 0, "%s", err);
    page_t page = page_load();
    section_matches_keys(&page, "Sink keys", keys,
                         sizeof keys / sizeof keys[0]);
    page_free(&page);
    free(yaml);
    free(plugin);
}

Test(docs, events_are_documented_with_their_severity)
{
    page_t page = page_load();
    for (uint32_t bit = 1; bit <= ZMQSINK_EVENT_ALL; bit <<= 1) {
        entry_t e = section_entry(&page, "EVENTS", zmqsink_event_name(bit));
        char severity[64];
        snprintf(severity, sizeof severity, "(%s)",
                 zmqsink_severity_name(zmqsink_event_default_severity(bit)));
        cr_expect(strstr(e.tag, severity), "EVENTS: %s: the tag '%s' does "
                                           "not say %s",
                  e.term, e.tag, severity);
    }
    page_free(&page);
}

/* ---- the library's functions ---- */

/* Whether the text documents function name: in the synopsis ("name(")
 * and in a tagged paragraph ("name ()" or "name "(), "). */
static bool function_documented(const char *page, const char *name)
{
    char synopsis[TERM_MAX + 8], entry[TERM_MAX + 8],
        first_of_two[TERM_MAX + 8];
    snprintf(synopsis, sizeof synopsis, "%s(", name);
    snprintf(entry, sizeof entry, "%s ()", name);
    snprintf(first_of_two, sizeof first_of_two, "%s \"()", name);
    return strstr(page, synopsis) &&
           (strstr(page, entry) || strstr(page, first_of_two));
}

/* Checks every ZMQSINK_EXPORT declaration of a header; returns how many
 * there are. */
static size_t header_documented(const char *header, const char *page)
{
    char *path = source_path(header), *text = th_read_file(path);
    cr_assert_not_null(text, "%s is missing", path);
    size_t n = 0;
    for (const char *p = strstr(text, "ZMQSINK_EXPORT "); p;
         p = strstr(p + 1, "ZMQSINK_EXPORT ")) {
        const char *paren = strchr(p, '(');
        if (p - text >= 8 && !strncmp(p - 8, "#define ", 8))
            continue;
        cr_assert_not_null(paren, "%s: no declaration after %.40s", header,
                           p);
        const char *start = paren;
        while (start > p && (isalnum((unsigned char)start[-1]) ||
                             start[-1] == '_'))
            start--;
        char name[TERM_MAX];
        snprintf(name, sizeof name, "%.*s", (int)(paren - start), start);
        cr_expect(function_documented(page, name),
                  "zmqsink.3 does not document %s() of %s", name, header);
        n++;
    }
    free(text);
    free(path);
    return n;
}

Test(docs, every_library_function_is_documented)
{
    char *path = source_path("man/zmqsink.3"), *page = th_read_file(path);
    cr_assert_not_null(page, "%s is missing", path);
    size_t n = header_documented("include/zmqsink.h", page) +
               header_documented("include/zmqsink/event.h", page);
    cr_assert_gt(n, 20, "only %zu exported functions found", n);
    free(page);
    free(path);
}

/* common/spool.c on its own, with the tests' host table: how the
 * dead-letter file and the batch being sent share max_size with the
 * batches waiting. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "plugin_host.h"
#include "spool.h"

static char *dir;
static th_plugin_host_t th; /* no plugin: the spool's host alone */

static void setup(void)
{
    dir = th_tempdir();
    th_plugin_host_init(&th, NULL, "test", dir, (th_option_t[]){{0}});
}

static void teardown(void)
{
    th_remove_tree(dir);
    free(dir);
}

TestSuite(spool, .init = setup, .fini = teardown);

/* A batch of one event whose line is bytes long. */
static void batch_make(spool_batch_t *b, uint64_t id, size_t bytes)
{
    memset(b, 0, sizeof *b);
    b->id = id;
    memset(b->key, 'a', SPOOL_KEY_LEN);
    b->events = 1;
    char *line = malloc(bytes);
    cr_assert_not_null(line);
    snprintf(line, bytes, "{\"seq\":%llu}", (unsigned long long)id);
    memset(line + strlen(line), ' ', bytes - 1 - strlen(line));
    line[bytes - 1] = '\n';
    bool oom = false;
    bytes_put(&b->body, line, bytes, &oom);
    cr_assert(!oom);
    free(line);
}

static int add(spool_t *s, uint64_t id, size_t bytes)
{
    spool_batch_t b;
    batch_make(&b, id, bytes);
    int rc = spool_add(s, &b);
    bytes_free(&b.body);
    return rc;
}

static spool_t *spool_with_dead_letters(int n, size_t bytes)
{
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/spool", dir);
    spool_t *s = spool_open(&th.host, path, 65536, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    for (int i = 0; i < n; i++) {
        spool_batch_t b;
        batch_make(&b, 1000 + (uint64_t)i, bytes);
        cr_assert_eq(spool_dead_letter(s, &b, "rejected"), 0);
        bytes_free(&b.body);
    }
    return s;
}

Test(spool, a_batch_that_cannot_fit_beside_the_dead_letters_deletes_nothing)
{
    spool_t *s = spool_with_dead_letters(5, 10000); /* ~50 of 64 KiB */
    for (uint64_t id = 1; id <= 3; id++)
        cr_assert_eq(add(s, id, 4000), 0);
    cr_assert_eq(add(s, 4, 16000), -1, "it cannot fit");
    cr_assert_eq(spool_count(s), 3, "the waiting batches stay:\n%s", th.log_text);
    cr_assert_eq(th.failed, 1, "only the refused batch's event");
    spool_close(&s);
}

Test(spool, dead_letters_moved_away_give_their_room_back)
{
    spool_t *s = spool_with_dead_letters(5, 10000);
    cr_assert_eq(add(s, 1, 16000), -1);
    char from[600], to[600];
    snprintf(from, sizeof from, "%s/spool/" SPOOL_DEAD_LETTER_FILE, dir);
    snprintf(to, sizeof to, "%s/moved.ndjson", dir);
    cr_assert_eq(rename(from, to), 0);
    cr_assert_eq(add(s, 2, 16000), 0, "%s", th.log_text);
    cr_assert_eq(spool_count(s), 1);
    spool_close(&s);
}

/* test_invoke_env.c — the environment vector and the PATH search that exec and runtime share. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "invoke/env.h"
#include "util.h"

static void test_envv_put_get_replace(void **state)
{
    (void)state;
    struct trg_envv e = {0};
    assert_null(trg_envv_get(&e, "A"));
    assert_int_equal(trg_envv_set(&e, "A", "1"), 0);
    assert_int_equal(trg_envv_put(&e, trg_strdup("AB=2")), 0);
    assert_int_equal(trg_envv_set(&e, "EMPTY", ""), 0);
    assert_int_equal(e.n, 3);
    assert_string_equal(trg_envv_get(&e, "A"), "1");
    assert_string_equal(trg_envv_get(&e, "AB"), "2");
    assert_string_equal(trg_envv_get(&e, "EMPTY"), "");
    assert_null(trg_envv_get(&e, "B"));
    /* the same name replaces in place; a name that is only a prefix of another does not */
    assert_int_equal(trg_envv_set(&e, "A", "3"), 0);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.v[0], "A=3");
    assert_string_equal(e.v[1], "AB=2");
    assert_null(e.v[3]);
    /* growth keeps the vector NULL-terminated */
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "V%d", i);
        assert_int_equal(trg_envv_set(&e, name, "x"), 0);
    }
    assert_int_equal(e.n, 103);
    assert_null(e.v[103]);
    assert_string_equal(trg_envv_get(&e, "V99"), "x");
    trg_envv_free(&e);
    assert_null(e.v);
    assert_int_equal(e.n, 0);
    trg_envv_free(&e); /* freeing twice is harmless */
}

static void test_envv_put_null_and_oom(void **state)
{
    (void)state;
    struct trg_envv e = {0};
    assert_int_equal(trg_envv_put(&e, NULL), TRG_ENOMEM);
    assert_int_equal(e.n, 0);
    trg_alloc_fail_after(0);
    assert_int_equal(trg_envv_set(&e, "A", "1"), TRG_ENOMEM);
    trg_alloc_fail_after(1); /* the entry is made, the vector cannot grow: the entry is freed */
    assert_int_equal(trg_envv_set(&e, "A", "1"), TRG_ENOMEM);
    trg_alloc_fail_after(-1);
    assert_int_equal(e.n, 0);
    assert_null(trg_envv_get(&e, "A"));
    trg_envv_free(&e);
}

static void touch(const char *dir, const char *name, mode_t mode)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_path_search(void **state)
{
    (void)state;
    char a[] = "/tmp/trg-env-a-XXXXXX", b[] = "/tmp/trg-env-b-XXXXXX", path[128], *r;
    assert_non_null(mkdtemp(a));
    assert_non_null(mkdtemp(b));
    touch(a, "prog", 0644);  /* not executable */
    touch(b, "prog", 0755);
    touch(a, "noexec", 0644);
    assert_int_equal(mkdir(strcat(strcpy(path, a), "/dir"), 0755), 0);

    /* the first executable regular file wins, past a non-executable one */
    snprintf(path, sizeof path, "%s:%s", a, b);
    r = trg_path_search("prog", path);
    assert_non_null(r);
    assert_true(strncmp(r, b, strlen(b)) == 0 && strcmp(r + strlen(b), "/prog") == 0);
    trg_free(r);
    /* only a non-executable match: EACCES; a directory or nothing: ENOENT */
    errno = 0;
    assert_null(trg_path_search("noexec", path));
    assert_int_equal(errno, EACCES);
    errno = 0;
    assert_null(trg_path_search("dir", path));
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_null(trg_path_search("missing", path));
    assert_int_equal(errno, ENOENT);
    /* an empty element is the working directory */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(b), 0);
    snprintf(path, sizeof path, "%s:", a);
    r = trg_path_search("prog", path);
    assert_non_null(r);
    assert_string_equal(r, "./prog");
    trg_free(r);
    assert_int_equal(chdir(cwd), 0);
    /* out of memory */
    trg_alloc_fail_after(0);
    errno = 0;
    assert_null(trg_path_search("prog", b));
    assert_int_equal(errno, ENOMEM);
    trg_alloc_fail_after(-1);

    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/prog", a), unlink(p);
    snprintf(p, sizeof p, "%s/noexec", a), unlink(p);
    snprintf(p, sizeof p, "%s/dir", a), rmdir(p);
    snprintf(p, sizeof p, "%s/prog", b), unlink(p);
    assert_int_equal(rmdir(a), 0);
    assert_int_equal(rmdir(b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envv_put_get_replace),
        cmocka_unit_test(test_envv_put_null_and_oom),
        cmocka_unit_test(test_path_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

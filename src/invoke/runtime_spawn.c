/* runtime_spawn.c — starting a runtime instance's process (see runtime.h).
 *
 * The process is started without a shell: fork(), then in the child only async-signal-safe calls
 * (setpgid, prctl(PR_SET_PDEATHSIG), dup2, chdir, setrlimit, sigaction, close_range, execve), with
 * argv and the environment built before the fork. It leads its own process group; it gets SIGKILL
 * when trigd dies, even by kill -9 (PR_SET_PDEATHSIG, which posix_spawn cannot set); a CLOEXEC pipe
 * tells the parent whether execve failed. Its environment is exactly the Lambda one
 * (reference/lambda-runtime-api.md) plus the function's `environment`: nothing of trigd's own leaks.
 *
 * memory_mb: where trigd may create cgroup v2 children with the memory controller (a delegated
 * cgroup: its own cgroup lists "memory" in cgroup.controllers, and trigd can move itself into a leaf
 * "trigd" below it and enable the controller for its siblings), each instance runs in its own cgroup
 * with memory.max = memory_mb and memory.swap.max = 0. Otherwise RLIMIT_DATA = memory_mb: it counts
 * private writable memory (heap, anonymous mappings, thread stacks) but not address space that is
 * only reserved, so Node's V8 (which reserves many GB of PROT_NONE address space at start) runs under
 * it, where RLIMIT_AS would stop it before its first line. The choice is logged once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "env.h"
#include "runtime.h"

#define RT_PATH "/usr/local/bin:/usr/bin:/bin"

/* ---- memory limit mode (process-wide, decided once) ---------------------------------------- */

/* The cgroup v2 directory instances are created in, when RT_LIMIT_CGROUP. Process-wide by nature
 * (trigd's own cgroup), so kept here and nowhere else. */
static char cg_base[PATH_MAX];
static int cg_mode = -1;
/* trigd's soft RLIMIT_NOFILE before rt_limit_mode() raised it (each instance costs trigd 7-8 fds);
 * runtimes get it back. */
static struct rlimit nofile_orig;
static bool nofile_raised;

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

static bool has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += wl)
        if ((p == list || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n' || p[wl] == '\0'))
            return true;
    return false;
}

/* The cgroup2 mount point (from /proc/self/mountinfo), or false. */
static bool cgroup2_mount(char *out, size_t size)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[1024];
    bool found = false;
    if (!f)
        return false;
    while (!found && fgets(line, sizeof line, f)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - FSTYPE SOURCE SUPER */
        char *dash = strstr(line, " - ");
        if (!dash || strncmp(dash + 3, "cgroup2 ", 8) != 0)
            continue;
        char root[PATH_MAX], mnt[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) == 2 && strcmp(root, "/") == 0) {
            snprintf(out, size, "%s", mnt);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* Try to set up a delegated cgroup v2 subtree; why it cannot be used goes to why. */
static bool cgroup_setup(char *why, size_t size)
{
    char mnt[PATH_MAX], self[PATH_MAX] = "", buf[4096], path[PATH_MAX + 64];
    FILE *f;

    if (!cgroup2_mount(mnt, sizeof mnt)) {
        snprintf(why, size, "no cgroup2 file system is mounted");
        return false;
    }
    if (!(f = fopen("/proc/self/cgroup", "re"))) {
        snprintf(why, size, "cannot read /proc/self/cgroup");
        return false;
    }
    while (fgets(buf, sizeof buf, f))
        if (strncmp(buf, "0::", 3) == 0) {
            snprintf(self, sizeof self, "%s", buf + 3);
            self[strcspn(self, "\n")] = '\0';
        }
    fclose(f);
    if (!self[0]) {
        snprintf(why, size, "trigd is in no cgroup v2 group");
        return false;
    }
    size_t sl = strlen(self);
    if (sl >= 6 && strcmp(self + sl - 6, "/trigd") == 0)
        self[sl - 6] = '\0'; /* a restart of trigd in the leaf it made for itself */
    if (snprintf(cg_base, sizeof cg_base, "%s%s", mnt, strcmp(self, "/") == 0 ? "" : self) >=
        (int)sizeof cg_base)
        return false;
    snprintf(path, sizeof path, "%s/cgroup.controllers", cg_base);
    if (read_file(path, buf, sizeof buf) != 0 || !has_word(buf, "memory")) {
        snprintf(why, size, "the memory controller is not available in %s (cgroup v2 without delegation)",
                 cg_base);
        return false;
    }
    snprintf(path, sizeof path, "%s/cgroup.subtree_control", cg_base);
    if (read_file(path, buf, sizeof buf) == 0 && has_word(buf, "memory"))
        return true;
    /* No processes may stay in a group that enables controllers for its children: move trigd into a
     * leaf of its own first. */
    snprintf(path, sizeof path, "%s/trigd", cg_base);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        snprintf(why, size, "cannot create %s: %s", path, strerror(errno));
        return false;
    }
    snprintf(path, sizeof path, "%s/trigd/cgroup.procs", cg_base);
    if (write_file(path, "0") != 0) {
        snprintf(why, size, "cannot move trigd into %s/trigd: %s", cg_base, strerror(errno));
        return false;
    }
    snprintf(path, sizeof path, "%s/cgroup.subtree_control", cg_base);
    if (write_file(path, "+memory") != 0) {
        snprintf(why, size, "cannot enable the memory controller in %s: %s", cg_base, strerror(errno));
        return false;
    }
    return true;
}

/* Each instance holds 7-8 fds in trigd (listener, epoll, eventfd, connection, two pipes, pidfd,
 * /proc status): raise the soft fd limit to the hard one (at most 65536) once. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    nofile_orig = rl;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
        nofile_raised = true;
        trg_info("runtime", NULL,
                 "open file limit raised from %llu to %llu (runtime instances hold 7-8 each)",
                 (unsigned long long)nofile_orig.rlim_cur, (unsigned long long)want);
    }
}

enum rt_limit_mode rt_limit_mode(void)
{
    char why[PATH_MAX + 128] = "";

    if (cg_mode >= 0)
        return (enum rt_limit_mode)cg_mode;
    raise_nofile();
    if (cgroup_setup(why, sizeof why)) {
        cg_mode = RT_LIMIT_CGROUP;
        trg_info("runtime", NULL,
                 "memory_mb is enforced with cgroup v2 memory.max (one cgroup per instance "
                 "under %s)",
                 cg_base);
    } else {
        cg_mode = RT_LIMIT_RLIMIT;
        trg_info("runtime", NULL, "memory_mb is enforced with RLIMIT_DATA per instance, not a cgroup: %s",
                 why);
    }
    return (enum rt_limit_mode)cg_mode;
}

static int cgroup_create(struct rt_inst *inst)
{
    char path[PATH_MAX + 128], val[32];
    struct rt_fn *fn = inst->fn;

    inst->cgroup = trg_asprintf("%s/rt-%d-%s-%u", cg_base, (int)getpid(), fn->name, inst->id);
    if (!inst->cgroup)
        return TRG_ENOMEM;
    if (mkdir(inst->cgroup, 0755) != 0 && errno != EEXIST)
        goto fail;
    snprintf(val, sizeof val, "%lld", (long long)fn->opts->memory_mb << 20);
    snprintf(path, sizeof path, "%s/memory.max", inst->cgroup);
    if (write_file(path, val) != 0)
        goto fail;
    snprintf(path, sizeof path, "%s/memory.swap.max", inst->cgroup);
    (void)write_file(path, "0"); /* absent without swap accounting */
    return 0;
fail:
    trg_warn("runtime", fn->name, "cannot prepare cgroup %s: %s; instance %u runs without a memory limit",
             inst->cgroup, strerror(errno), inst->id);
    rmdir(inst->cgroup);
    trg_free(inst->cgroup);
    inst->cgroup = NULL;
    return 0;
}

void rt_cgroup_remove(struct rt_inst *inst)
{
    if (!inst->cgroup)
        return;
    if (rmdir(inst->cgroup) != 0 && errno != ENOENT)
        trg_debug("runtime", inst->fn->name, "cannot remove %s: %s", inst->cgroup, strerror(errno));
    trg_free(inst->cgroup);
    inst->cgroup = NULL;
}

long rt_max_memory_mb(const struct rt_inst *inst)
{
    char buf[4096];

    if (inst->cgroup) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/memory.peak", inst->cgroup);
        if (read_file(path, buf, sizeof buf) == 0)
            return (long)((strtoull(buf, NULL, 10) + (1 << 20) - 1) >> 20);
    }
    ssize_t n = inst->status_fd >= 0 ? pread(inst->status_fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return (inst->exit_maxrss_kb + 1023) / 1024;
    buf[n] = '\0';
    const char *p = strstr(buf, "VmHWM:");
    return p ? (strtol(p + 6, NULL, 10) + 1023) / 1024 : 0;
}

/* ---- environment ----------------------------------------------------------------------------- */

static int build_env(const struct rt_inst *inst, struct trg_envv *e)
{
    const struct rt_fn *fn = inst->fn;
    const struct rt_opts *o = fn->opts;
    char day[16], stream[64];
    time_t now = time(NULL);
    struct tm tm;
    int rc = 0;

    gmtime_r(&now, &tm);
    strftime(day, sizeof day, "%Y/%m/%d", &tm);
    /* The log stream only names the instance, as Lambda's does; invokers hold no core (they sit below the
     * engine and are handed no random source), so this comes from the OS's (srand-less random() repeated
     * the same names after every restart). */
    uint32_t rnd[2];
    trg_random_bytes(rnd, sizeof rnd);
    snprintf(stream, sizeof stream, "%s/[$LATEST]%08x%08x%08x%08x", day, (unsigned)getpid(), inst->id,
             (unsigned)rnd[0], (unsigned)rnd[1]);
#define PUT(...) (rc = rc ? rc : trg_envv_put(e, trg_asprintf(__VA_ARGS__)))
    PUT("AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", inst->port);
    PUT("_HANDLER=%s", o->handler ? o->handler : "");
    PUT("LAMBDA_TASK_ROOT=%s", fn->task_root);
    PUT("LAMBDA_RUNTIME_DIR=%s", fn->task_root);
    PUT("AWS_EXECUTION_ENV=AWS_Lambda_trigd");
    PUT("AWS_LAMBDA_FUNCTION_NAME=%s", fn->name);
    PUT("AWS_LAMBDA_FUNCTION_VERSION=$LATEST");
    PUT("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%lld", (long long)o->memory_mb);
    PUT("AWS_LAMBDA_INITIALIZATION_TYPE=%s", inst->provisioned ? "provisioned-concurrency" : "on-demand");
    PUT("AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/%s", fn->name);
    PUT("AWS_LAMBDA_LOG_STREAM_NAME=%s", stream);
    PUT("AWS_LAMBDA_LOG_FORMAT=Text");
    PUT("AWS_LAMBDA_LOG_LEVEL=INFO");
    PUT("AWS_REGION=%s", o->region);
    PUT("AWS_DEFAULT_REGION=%s", o->region);
    PUT("TZ=:UTC");
    PUT("LANG=en_US.UTF-8");
    PUT("PATH=%s", RT_PATH);
    PUT("LD_LIBRARY_PATH=%s/lib", fn->task_root);
#undef PUT
    for (size_t i = 0; i < o->environment.n && rc == 0; i++)
        rc = trg_envv_set(e, o->environment.k[i], o->environment.v[i]);
    return rc;
}

/* The program: a path with a slash is taken as is (relative ones from code_dir, where the child
 * runs); a bare name is searched in the child's PATH. NULL with errno set when not found. */
static char *resolve(const struct rt_fn *fn, const char *prog, const char *path)
{
    if (strchr(prog, '/')) {
        char *r = prog[0] == '/' ? trg_strdup(prog) : trg_asprintf("%s/%s", fn->task_root, prog);
        if (!r)
            errno = ENOMEM;
        else if (access(r, X_OK) != 0) {
            int e = errno;
            trg_free(r);
            errno = e;
            return NULL;
        }
        return r;
    }
    char *r = trg_path_search(prog, path);
    /* A regular file that is not executable is reported as no match, as runtime starts always did. */
    if (!r && errno == EACCES)
        errno = ENOENT;
    return r;
}

/* code_dir, made absolute now (it may appear, move or vanish while trigd runs), into fn->task_root.
 * 0, TRG_ENOMEM, or TRG_EIO with why filled (the path and the reason). */
static int resolve_root(struct rt_fn *fn, char *why, size_t size)
{
    const char *dir = fn->opts->code_dir;
    char cwd[PATH_MAX] = "", where[PATH_MAX + 64] = "";
    struct stat st;
    int e;

    if (dir[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(where, sizeof where, " (relative to trigd's working directory %s)", cwd);
    char *root = realpath(dir, NULL);
    if (!root) {
        e = errno;
        if (e == ENOMEM)
            return TRG_ENOMEM;
        snprintf(why, size, "code_dir %s%s: %s", dir, where, strerror(e));
        return TRG_EIO;
    }
    e = 0;
    if (stat(root, &st) != 0)
        e = errno;
    else if (!S_ISDIR(st.st_mode))
        e = ENOTDIR;
    else if (access(root, R_OK | X_OK) != 0)
        e = errno;
    if (e) {
        snprintf(why, size, "code_dir %s%s: %s", dir, where, strerror(e));
        free(root);
        return TRG_EIO;
    }
    free(fn->task_root); /* from realpath() */
    fn->task_root = root;
    return 0;
}

/* ---- fork and exec ----------------------------------------------------------------------------- */

static int pipe_pair(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    int fl = fcntl(fds[0], F_GETFL);
    if (fl < 0 || fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) != 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    return 0;
}

/* In the child, after fork: async-signal-safe calls only. Never returns. */
static void child(int parent, const char *cwd, const char *prog, char *const argv[], char *const envp[],
                  int in, int out, int err, int report, int cg_procs, int64_t data_limit)
{
    int e;
    sigset_t none;

    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127); /* trigd is already gone */
    if (cg_procs >= 0 && write(cg_procs, "0", 1) != 1)
        goto fail;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        goto fail;
    if (chdir(cwd) != 0)
        goto fail;
    if (data_limit > 0) {
        struct rlimit rl = {(rlim_t)data_limit, (rlim_t)data_limit};
        if (setrlimit(RLIMIT_DATA, &rl) != 0)
            goto fail;
    }
    if (nofile_raised && setrlimit(RLIMIT_NOFILE, &nofile_orig) != 0)
        goto fail;
    /* every fd but 0-2 and the report pipe (CLOEXEC: it closes when execve succeeds) */
    if (report > 3)
        syscall(SYS_close_range, 3, (unsigned)report - 1, 0);
    syscall(SYS_close_range, (unsigned)report + 1, ~0U, 0);
    execve(prog, argv, envp);
fail:
    e = errno;
    if (write(report, &e, sizeof e) != (ssize_t)sizeof e)
        _exit(127);
    _exit(127);
}

int rt_spawn(struct rt_inst *inst, char *why, size_t why_size)
{
    struct rt_fn *fn = inst->fn;
    const struct rt_opts *o = fn->opts;
    struct trg_envv env = {0};
    char *prog = NULL, *bootstrap = NULL;
    char **argv = NULL;
    int out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2] = {-1, -1}, devnull = -1, cg_procs = -1;
    int rc = TRG_ENOMEM;

    snprintf(why, why_size, "the runtime could not be started (see trigd's log)");
    rc = resolve_root(fn, why, why_size);
    if (rc != 0) {
        if (rc == TRG_ENOMEM)
            goto done;
        trg_error("runtime", fn->name,
                  "instance %u cannot start: %s; create the directory or fix code_dir in the config "
                  "(trigd retries after a backoff)",
                  inst->id, why);
        goto done;
    }
    rc = TRG_ENOMEM;
    if (build_env(inst, &env) != 0)
        goto done;
    size_t argc = o->command.n ? o->command.n : 1;
    argv = trg_calloc(argc + 1, sizeof *argv);
    if (!argv)
        goto done;
    if (o->command.n) {
        memcpy(argv, o->command.v, o->command.n * sizeof *argv);
    } else {
        bootstrap = trg_strdup("./bootstrap");
        if (!bootstrap)
            goto done;
        argv[0] = bootstrap;
    }
    rc = TRG_EIO;
    prog = resolve(fn, argv[0], trg_envv_get(&env, "PATH"));
    if (!prog) {
        if (errno == ENOMEM) {
            rc = TRG_ENOMEM;
            goto done;
        }
        snprintf(why, why_size, "command %s (in code_dir %s): %s", argv[0], fn->task_root, strerror(errno));
        trg_error("runtime", fn->name, "instance %u cannot start: %s; fix command or code_dir in the config",
                  inst->id, why);
        goto done;
    }
    if (fn->limit == RT_LIMIT_CGROUP && o->memory_mb > 0 && cgroup_create(inst) == 0 && inst->cgroup) {
        char *p = trg_asprintf("%s/cgroup.procs", inst->cgroup);
        cg_procs = p ? open(p, O_WRONLY | O_CLOEXEC) : -1;
        trg_free(p);
    }
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || pipe_pair(out) != 0 || pipe_pair(err) != 0 || pipe2(rep, O_CLOEXEC) != 0) {
        trg_error("runtime", fn->name, "cannot create pipes: %s; raise the fd limit (ulimit -n)",
                  strerror(errno));
        goto done;
    }
    int64_t data_limit = fn->limit == RT_LIMIT_RLIMIT && o->memory_mb > 0 ? o->memory_mb << 20 : 0;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        trg_error("runtime", fn->name, "fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0)
        child(parent, fn->task_root, prog, argv, env.v, devnull, out[1], err[1], rep[1], cg_procs,
              data_limit);
    setpgid(pid, pid); /* also here, so that a signal to the group cannot race the child's own call */
    close(rep[1]);
    rep[1] = -1;
    int child_err = 0;
    ssize_t n;
    do {
        n = read(rep[0], &child_err, sizeof child_err);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof child_err) {
        snprintf(why, why_size, "cannot start %s in %s: %s", prog, fn->task_root, strerror(child_err));
        trg_error("runtime", fn->name, "instance %u %s", inst->id, why);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        goto done;
    }
    inst->pid = pid;
    inst->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (inst->pidfd < 0) {
        trg_error("runtime", fn->name, "pidfd_open: %s; trigd needs Linux 5.3 or later", strerror(errno));
        kill(-pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        inst->pid = 0;
        goto done;
    }
    char sp[64];
    snprintf(sp, sizeof sp, "/proc/%d/status", (int)pid);
    inst->status_fd = open(sp, O_RDONLY | O_CLOEXEC);
    inst->out.fd = out[0];
    inst->err.fd = err[0];
    out[0] = err[0] = -1;
    trg_debug("runtime", fn->name, "instance %u: pid %d, Runtime API 127.0.0.1:%d", inst->id, (int)pid,
              inst->port);
    rc = 0;
done:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (err[i] >= 0)
            close(err[i]);
        if (rep[i] >= 0)
            close(rep[i]);
    }
    if (devnull >= 0)
        close(devnull);
    if (cg_procs >= 0)
        close(cg_procs);
    if (rc != 0)
        rt_cgroup_remove(inst);
    trg_envv_free(&env);
    trg_free(prog);
    trg_free(bootstrap);
    trg_free(argv);
    return rc;
}

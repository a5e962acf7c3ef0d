/*
 * The options table. Each row: the long name (given as `--name VALUE` or
 * `--name=VALUE`), its type, the field it fills, and a one-line description.
 * conmon's cli.c is the model; unlike conmon every option is long-only and
 * a string option given twice is an error, not a silent override.
 */
#include "options.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

enum opt_type { OPT_FLAG, OPT_STRING, OPT_NUMBER, OPT_LIST };

struct opt_def {
  const char *name;
  enum opt_type type;
  size_t offset;
  const char *arg; /* the value's name in --help */
  const char *help;
};

#define FIELD(f) offsetof(struct shim_opts, f)

/* clang-format off */
static const struct opt_def OPTIONS[] = {
  {"id",             OPT_STRING, FIELD(id),             "ID",    "container id, passed to the runtime (required)"},
  {"runtime",        OPT_STRING, FIELD(runtime),        "PATH",  "OCI runtime binary, a path or a name on PATH (required)"},
  {"runtime-arg",    OPT_LIST,   FIELD(runtime_args),   "ARG",   "global runtime flag put before the command, repeatable"},
  {"bundle",         OPT_STRING, FIELD(bundle),         "DIR",   "bundle directory: run `create` (create mode)"},
  {"exec-process",   OPT_STRING, FIELD(exec_process),   "FILE",  "process.json: run `exec --process FILE --detach` (exec mode)"},
  {"pid-file",       OPT_STRING, FIELD(pid_file),       "PATH",  "where the runtime writes the container pid (default: a private temp file)"},
  {"exit-file",      OPT_STRING, FIELD(exit_file),      "PATH",  "exit status file, written when the process exits (required)"},
  {"log-path",       OPT_STRING, FIELD(log_path),       "PATH",  "CRI log file for stdout and stderr (default: no log)"},
  {"log-size-max",   OPT_NUMBER, FIELD(log_size_max),   "BYTES", "rotate the log at this size, 0 never (default 10485760)"},
  {"log-max-files",  OPT_NUMBER, FIELD(log_max_files),  "N",     "log files kept, the current one included (default 5)"},
  {"log-line-max",   OPT_NUMBER, FIELD(log_line_max),   "BYTES", "longest log line; longer lines are split as partial (default 16384)"},
  {"attach-socket",  OPT_STRING, FIELD(attach_socket),  "PATH",  "unix socket for attach clients (default: none)"},
  {"control-socket", OPT_STRING, FIELD(control_socket), "PATH",  "unix socket for control commands (default: none)"},
  {"terminal",       OPT_FLAG,   FIELD(terminal),       NULL,    "the process has a pty; its master arrives on a console socket"},
  {"stdin",          OPT_FLAG,   FIELD(stdin_open),     NULL,    "keep the process's stdin open for attach clients"},
  {"sync-fd",        OPT_NUMBER, FIELD(sync_fd),        "FD",    "inherited fd that gets the one-line JSON report (default: none)"},
  {"help",           OPT_FLAG,   FIELD(help),           NULL,    "print this help and exit"},
  {"version",        OPT_FLAG,   FIELD(version),        NULL,    "print the version and exit"},
};
/* clang-format on */

#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

void opts_usage(FILE *out) {
  fputs("usage: berth-shim --id ID --runtime PATH (--bundle DIR | --exec-process FILE) --exit-file PATH [OPTION...]\n\n", out);
  for (size_t i = 0; i < N_OPTIONS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", OPTIONS[i].name, OPTIONS[i].arg ? " " : "", OPTIONS[i].arg ? OPTIONS[i].arg : "");
    fprintf(out, "  %-26s %s\n", left, OPTIONS[i].help);
  }
}

static const struct opt_def *find_option(const char *name, size_t len) {
  for (size_t i = 0; i < N_OPTIONS; i++)
    if (strlen(OPTIONS[i].name) == len && strncmp(OPTIONS[i].name, name, len) == 0) return &OPTIONS[i];
  return NULL;
}

static int parse_number(const char *name, const char *s, long long *out, struct shim_err *err) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno != 0 || v < 0)
    return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--%s needs a non-negative integer, got `%s`", name, s);
  *out = v;
  return 0;
}

int opts_parse(struct shim_opts *o, int argc, char **argv, struct shim_err *err) {
  memset(o, 0, sizeof *o);
  o->log_size_max = 10 * 1024 * 1024;
  o->log_max_files = 5;
  o->log_line_max = 16 * 1024;
  o->sync_fd = -1;
  /* Every runtime-arg fits in an array as long as argv. */
  o->runtime_args.items = calloc((size_t)argc + 1, sizeof(char *));
  if (!o->runtime_args.items) return shim_fail(err, SHIM_STAGE_OPTIONS, errno, "allocate the option list");

  bool seen[N_OPTIONS] = {false};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
      return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "unexpected argument `%s`: every option is --NAME [VALUE]", a);
    const char *name = a + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
    const struct opt_def *def = find_option(name, name_len);
    if (!def) return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "unknown option --%.*s", (int)name_len, name);
    size_t idx = (size_t)(def - OPTIONS);
    char *field = (char *)o + def->offset;

    if (def->type == OPT_FLAG) {
      if (eq) return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--%s takes no value", def->name);
      *(bool *)field = true;
      continue;
    }
    const char *value;
    if (eq) {
      value = eq + 1;
    } else {
      if (i + 1 >= argc) return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--%s needs a value (%s)", def->name, def->arg);
      value = argv[++i];
    }
    if (def->type != OPT_LIST && seen[idx])
      return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--%s is given more than once", def->name);
    seen[idx] = true;
    switch (def->type) {
    case OPT_STRING:
      if (*value == '\0') return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--%s needs a non-empty value", def->name);
      *(const char **)field = value;
      break;
    case OPT_NUMBER:
      if (parse_number(def->name, value, (long long *)field, err) < 0) return -1;
      break;
    case OPT_LIST: {
      struct str_list *l = (struct str_list *)field;
      l->items[l->len++] = value;
      break;
    }
    case OPT_FLAG: break;
    }
  }
  return 0;
}

int opts_find_sync_fd(int argc, char **argv) {
  int fd = -1;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    if (strcmp(argv[i], "--sync-fd") == 0 && i + 1 < argc) v = argv[i + 1];
    else if (strncmp(argv[i], "--sync-fd=", 10) == 0) v = argv[i] + 10;
    if (!v) continue;
    char *end;
    long n = strtol(v, &end, 10);
    if (*v && *end == '\0' && n > 2 && n < INT_MAX) fd = (int)n;
  }
  return fd;
}

static int check_absolute(const char *opt, const char *path, struct shim_err *err) {
  if (path && path[0] != '/')
    return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--%s must be an absolute path, got `%s`", opt, path);
  return 0;
}

/* sun_path holds 108 bytes with the NUL; a longer path cannot be bound. */
static int check_socket_path(const char *opt, const char *path, struct shim_err *err) {
  if (!path) return 0;
  if (check_absolute(opt, path, err) < 0) return -1;
  size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
  if (strlen(path) > max)
    return shim_fail(err, SHIM_STAGE_OPTIONS, ENAMETOOLONG,
                     "--%s %s is %zu bytes long; a unix socket path holds at most %zu (sun_path), choose a shorter one",
                     opt, path, strlen(path), max);
  return 0;
}

static int resolve_runtime(struct shim_opts *o, struct shim_err *err) {
  const char *r = o->runtime;
  if (strchr(r, '/')) {
    if (strlen(r) >= sizeof o->runtime_path) return shim_fail(err, SHIM_STAGE_OPTIONS, ENAMETOOLONG, "runtime path %s is too long", r);
    strcpy(o->runtime_path, r);
  } else {
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    bool found = false;
    while (*path && !found) {
      size_t n = strcspn(path, ":");
      if (n > 0) {
        int w = snprintf(o->runtime_path, sizeof o->runtime_path, "%.*s/%s", (int)n, path, r);
        if (w > 0 && (size_t)w < sizeof o->runtime_path && access(o->runtime_path, X_OK) == 0) found = true;
      }
      path += n + (path[n] == ':');
    }
    if (!found) return shim_fail(err, SHIM_STAGE_OPTIONS, ENOENT, "runtime `%s` was not found on PATH", r);
  }
  struct stat st;
  if (stat(o->runtime_path, &st) < 0) return shim_fail(err, SHIM_STAGE_OPTIONS, errno, "runtime %s", o->runtime_path);
  if (!S_ISREG(st.st_mode)) return shim_fail(err, SHIM_STAGE_OPTIONS, EACCES, "runtime %s is not a regular file", o->runtime_path);
  if (access(o->runtime_path, X_OK) < 0) return shim_fail(err, SHIM_STAGE_OPTIONS, errno, "runtime %s is not executable", o->runtime_path);
  return 0;
}

int opts_validate(struct shim_opts *o, struct shim_err *err) {
  if (!o->id) return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--id is required");
  if (o->id[0] == '-' || strchr(o->id, '/'))
    return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--id `%s` must not start with '-' or contain '/'", o->id);
  if (!o->runtime) return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--runtime is required");
  if (!o->exit_file) return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--exit-file is required");
  if (!o->bundle && !o->exec_process)
    return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "one of --bundle (create) or --exec-process (exec) is required");
  if (o->bundle && o->exec_process)
    return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--bundle and --exec-process exclude each other: a shim runs either create or exec");
  if (o->log_max_files < 1 || o->log_max_files > 1000)
    return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--log-max-files must be between 1 and 1000, got %lld", o->log_max_files);
  if (o->log_line_max < 1 || o->log_line_max > 1024 * 1024)
    return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--log-line-max must be between 1 and 1048576, got %lld", o->log_line_max);
  /* A full line and its header must fit in one file, or rotation could not keep the limit. */
  if (o->log_size_max != 0 && o->log_size_max < o->log_line_max + 64)
    return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--log-size-max %lld is too small for --log-line-max %lld (needs at least %lld)",
                     o->log_size_max, o->log_line_max, o->log_line_max + 64);
  if (o->sync_fd >= 0 && o->sync_fd <= 2)
    return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "--sync-fd %lld is a stdio fd; pass a fd above 2", o->sync_fd);
  if (o->sync_fd > INT_MAX) return shim_fail(err, SHIM_STAGE_OPTIONS, EBADF, "--sync-fd %lld is not a file descriptor", o->sync_fd);

  const struct {
    const char *opt, *path;
  } paths[] = {{"bundle", o->bundle},     {"exec-process", o->exec_process}, {"pid-file", o->pid_file},
               {"exit-file", o->exit_file}, {"log-path", o->log_path}};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    if (check_absolute(paths[i].opt, paths[i].path, err) < 0) return -1;
  if (check_socket_path("attach-socket", o->attach_socket, err) < 0) return -1;
  if (check_socket_path("control-socket", o->control_socket, err) < 0) return -1;

  const char *distinct[] = {o->exit_file, o->log_path, o->attach_socket, o->control_socket, o->pid_file};
  for (size_t i = 0; i < 5; i++)
    for (size_t j = i + 1; j < 5; j++)
      if (distinct[i] && distinct[j] && strcmp(distinct[i], distinct[j]) == 0)
        return shim_fail(err, SHIM_STAGE_OPTIONS, EINVAL, "the path %s is given for two purposes", distinct[i]);

  if (resolve_runtime(o, err) < 0) return -1;

  struct stat st;
  if (o->bundle) {
    if (stat(o->bundle, &st) < 0) return shim_fail(err, SHIM_STAGE_OPTIONS, errno, "bundle %s", o->bundle);
    if (!S_ISDIR(st.st_mode)) return shim_fail(err, SHIM_STAGE_OPTIONS, ENOTDIR, "bundle %s is not a directory", o->bundle);
    char config[strlen(o->bundle) + sizeof "/config.json"];
    snprintf(config, sizeof config, "%s/config.json", o->bundle);
    if (stat(config, &st) < 0) return shim_fail(err, SHIM_STAGE_OPTIONS, errno, "bundle %s has no config.json", o->bundle);
  }
  if (o->exec_process && stat(o->exec_process, &st) < 0)
    return shim_fail(err, SHIM_STAGE_OPTIONS, errno, "process file %s", o->exec_process);
  return 0;
}

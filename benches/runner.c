/*
 * Runs one command and reports what scripts/bench.sh needs, precisely:
 *
 *   runner [-n NICE] RESULT_FILE COMMAND [ARGS...]
 *
 * writes "WALL_S MAXRSS_KIB USER_S SYS_S" to RESULT_FILE and exits with the command's
 * status. Wall time is CLOCK_MONOTONIC from just before fork() to just after wait4();
 * peak RSS, user and system time come from wait4()'s rusage, the same numbers GNU
 * `/usr/bin/time -v` prints, with microsecond instead of 10 ms resolution for CPU time.
 *
 * -n NICE runs the command at that niceness. On kernels with autogroup scheduling
 * (sched_autogroup_enabled=1) niceness only orders processes of one session, so the
 * command is also put in a session of its own (setsid) whose autogroup gets the same
 * niceness: then it really is preferred over other sessions' builds and fuzzers. Negative
 * values need root; failures are ignored (the command then runs at normal priority).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char **argv)
{
    int nice_value = 0, set_nice = 0;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        nice_value = atoi(argv[2]);
        set_nice = 1;
        argv += 2;
        argc -= 2;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: runner [-n NICE] RESULT_FILE COMMAND [ARGS...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        if (set_nice) {
            if (setsid() >= 0) {
                int fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                    char text[16];
                    int n = snprintf(text, sizeof text, "%d", nice_value);
                    if (write(fd, text, (size_t)n) < 0) {
                        /* not allowed: normal priority */
                    }
                    close(fd);
                }
            }
            if (setpriority(PRIO_PROCESS, 0, nice_value) < 0) {
                /* not allowed: normal priority */
            }
        }
        execvp(argv[2], argv + 2);
        fprintf(stderr, "%s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("wait4");
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 2;
    }
    fprintf(out, "%.6f %ld %.6f %.6f\n", wall, ru.ru_maxrss, seconds(ru.ru_utime), seconds(ru.ru_stime));
    fclose(out);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

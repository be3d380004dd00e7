/*
 * Shared helpers for the C baselines of ffio's examples: map a whole file into memory
 * with av_file_map (what `count_frames FILE` does) or load it into a malloc'd buffer
 * (what `extract_h264 --memory` does with std::fs::read), and serve it to libavformat
 * through read and seek callbacks (what ffio's Cursor<&[u8]> reader does); or read the
 * file through its descriptor (what the examples do with std::fs::File).
 *
 * Written for the benchmarks only: same buffer sizes, same FFmpeg calls, no extras, so
 * that ffio-vs-C measures the cost of the Rust wrapper and nothing else.
 */
#ifndef FFIO_BENCH_COMMON_H
#define FFIO_BENCH_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/file.h>

/* ffio::DEFAULT_READ_BUFFER_SIZE and ffio::DEFAULT_WRITE_BUFFER_SIZE. */
#define READ_BUFFER_SIZE (64 * 1024)
#define WRITE_BUFFER_SIZE (256 * 1024)

/* FFmpeg 7.0 (libavformat 61) made write_packet's buffer const. */
#if LIBAVFORMAT_VERSION_MAJOR >= 61
#define WRITE_BUF const uint8_t *
#else
#define WRITE_BUF uint8_t *
#endif

struct mem_input {
    const uint8_t *data;
    int64_t size;
    int64_t pos; /* may lie past the end, like a Cursor's */
    int mapped;  /* data comes from av_file_map, not malloc */
};

/* Reads the whole file at `path` with read(2) into a malloc'd buffer. Exits on error. */
static void load_file(const char *path, struct mem_input *in)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(1);
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(1);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    if (!data) {
        fprintf(stderr, "%s: out of memory\n", path);
        exit(1);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "%s: %s\n", path, strerror(errno));
            exit(1);
        }
        if (n == 0)
            break; /* the file shrank */
        got += (size_t)n;
    }
    close(fd);
    in->data = data;
    in->size = (int64_t)got;
    in->pos = 0;
    in->mapped = 0;
}

/* Maps the whole file at `path` with av_file_map (mmap, read-only), as the original C
 * program and ffio's `count_frames FILE` do. Exits on error. */
static void map_file(const char *path, struct mem_input *in)
{
    uint8_t *data = NULL;
    size_t size = 0;
    int ret = av_file_map(path, &data, &size, 0, NULL);
    if (ret < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(-ret));
        exit(1);
    }
    in->data = data;
    in->size = (int64_t)size;
    in->pos = 0;
    in->mapped = 1;
}

/* read_packet: copy from memory; end of data is AVERROR_EOF, never 0. */
static int mem_read(void *opaque, uint8_t *buf, int size)
{
    struct mem_input *in = opaque;
    if (in->pos >= in->size)
        return AVERROR_EOF;
    int64_t left = in->size - in->pos;
    int n = left < size ? (int)left : size;
    memcpy(buf, in->data + in->pos, (size_t)n);
    in->pos += n;
    return n;
}

/* seek: AVSEEK_SIZE answered, AVSEEK_FORCE ignored, negative targets refused. */
static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
    struct mem_input *in = opaque;
    int64_t base;
    if (whence & AVSEEK_SIZE)
        return in->size;
    switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = in->pos; break;
    case SEEK_END: base = in->size; break;
    default: return AVERROR(EINVAL);
    }
    if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
        return AVERROR(EINVAL);
    in->pos = base + offset;
    return in->pos;
}

static void die(const char *what, int err)
{
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(err, msg, sizeof msg);
    fprintf(stderr, "%s: %s\n", what, msg);
    exit(1);
}

/* The same input read through a file descriptor (read(2)/lseek(2)), like ffio's
 * CustomIo::seekable_reader(File) in `count_frames --stream`. */
struct fd_input {
    int fd;
};

static int fd_read(void *opaque, uint8_t *buf, int size)
{
    struct fd_input *in = opaque;
    for (;;) {
        ssize_t n = read(in->fd, buf, (size_t)size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return AVERROR(errno);
        return n == 0 ? AVERROR_EOF : (int)n;
    }
}

static int64_t fd_seek(void *opaque, int64_t offset, int whence)
{
    struct fd_input *in = opaque;
    if (whence & AVSEEK_SIZE) {
        struct stat st;
        return fstat(in->fd, &st) < 0 ? AVERROR(errno) : (int64_t)st.st_size;
    }
    off_t pos = lseek(in->fd, (off_t)offset, whence & ~AVSEEK_FORCE);
    return pos < 0 ? AVERROR(errno) : (int64_t)pos;
}

/* Where the input comes from: the whole file loaded into memory (the default, what
 * `extract_h264 --memory` does with std::fs::read), mapped into memory (--map, what
 * `count_frames FILE` does) or read through the file descriptor (--stream, what the
 * examples do with std::fs::File). */
enum source_mode { SOURCE_LOAD, SOURCE_MAP, SOURCE_STREAM };

struct input {
    struct mem_input mem;
    struct fd_input file;
};

static void open_source(const char *path, int mode, struct input *in)
{
    if (mode != SOURCE_STREAM) {
        if (mode == SOURCE_MAP)
            map_file(path, &in->mem);
        else
            load_file(path, &in->mem);
        in->file.fd = -1;
        return;
    }
    in->mem.data = NULL;
    in->mem.mapped = 0;
    in->file.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in->file.fd < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* Opens an input demuxer reading `in` through a 64 KiB AVIO buffer, and runs stream
 * discovery, like ffio::Demuxer::open(CustomIo::seekable_reader(..)). */
static AVFormatContext *open_input(struct input *in, AVIOContext **pb_out)
{
    uint8_t *buf = av_malloc(READ_BUFFER_SIZE);
    AVIOContext *pb = NULL;
    if (buf && in->file.fd >= 0)
        pb = avio_alloc_context(buf, READ_BUFFER_SIZE, 0, &in->file, fd_read, NULL, fd_seek);
    else if (buf)
        pb = avio_alloc_context(buf, READ_BUFFER_SIZE, 0, &in->mem, mem_read, NULL, mem_seek);
    AVFormatContext *fmt = avformat_alloc_context();
    if (!pb || !fmt)
        die("alloc", AVERROR(ENOMEM));
    fmt->pb = pb;
    int ret = avformat_open_input(&fmt, NULL, NULL, NULL);
    if (ret < 0)
        die("avformat_open_input", ret);
    ret = avformat_find_stream_info(fmt, NULL);
    if (ret < 0)
        die("avformat_find_stream_info", ret);
    *pb_out = pb;
    return fmt;
}

/* Tells the demuxer to skip every stream but `keep` (AVDISCARD_ALL): what ffprobe
 * -select_streams and the ffmpeg CLI's -map do for the streams they do not use. The MOV
 * demuxer then neither reads nor allocates those packets. */
static void discard_all_but(AVFormatContext *fmt, int keep)
{
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if ((int)i != keep)
            fmt->streams[i]->discard = AVDISCARD_ALL;
}

/* Teardown in the order the contract asks: format context, current buffer, AVIOContext,
 * then the source. */
static void close_input(AVFormatContext *fmt, AVIOContext *pb, struct input *in)
{
    avformat_close_input(&fmt);
    av_freep(&pb->buffer);
    avio_context_free(&pb);
    if (in->file.fd >= 0)
        close(in->file.fd);
    if (in->mem.mapped)
        av_file_unmap((uint8_t *)in->mem.data, (size_t)in->mem.size);
    else
        free((void *)in->mem.data);
}

/* Parses `[--stream | --map] [--discard] ARGS...`; returns the index of the first
 * positional argument. */
static int parse_flags(int argc, char **argv, int *mode, int *discard)
{
    int i = 1;
    *mode = SOURCE_LOAD;
    *discard = 0;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--stream") == 0)
            *mode = SOURCE_STREAM;
        else if (strcmp(argv[i], "--map") == 0)
            *mode = SOURCE_MAP;
        else if (strcmp(argv[i], "--discard") == 0)
            *discard = 1;
        else {
            fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]);
            exit(1);
        }
    }
    return i;
}

#endif

/*
 * C baseline for `extract_h264 INPUT OUTPUT`: load INPUT into memory, demux it through
 * read and seek callbacks (64 KiB buffer), remux its first video stream into the raw
 * `h264` muxer (which inserts h264_mp4toannexb by itself) through a write callback:
 * 256 KiB AVIO buffer, pb->min_packet_size = 256 KiB (full-buffer batches, as ffio does
 * unless flush_packets is asked for), write(2) looped until everything is written.
 *
 * usage: extract_h264_c [--stream | --map] [--discard] INPUT OUTPUT
 *   --stream   read INPUT through read(2)/lseek(2) callbacks instead of loading it (the
 *              C counterpart of `extract_h264 INPUT OUTPUT`; without it, of `--memory`)
 *   --map      map INPUT with av_file_map instead of loading it
 *   --discard  skip every other stream in the demuxer (AVDISCARD_ALL), as the ffmpeg
 *              CLI does for streams that -map does not select and ffio's extract_h264
 *              does with Demuxer::keep_streams (scripts/bench.sh always passes it)
 */
#include "common.h"

/* write_packet: FFmpeg ignores short writes, so write everything or fail. */
static int fd_write(void *opaque, WRITE_BUF buf, int size)
{
    int fd = *(int *)opaque;
    int done = 0;
    while (done < size) {
        ssize_t n = write(fd, buf + done, (size_t)(size - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return AVERROR(errno);
        if (n == 0)
            return AVERROR(EIO);
        done += (int)n;
    }
    return size;
}

int main(int argc, char **argv)
{
    int mode, discard;
    int first = parse_flags(argc, argv, &mode, &discard);
    if (argc - first != 2) {
        fprintf(stderr, "usage: %s [--stream | --map] [--discard] INPUT OUTPUT\n", argv[0]);
        return 1;
    }
    const char *input = argv[first], *output = argv[first + 1];
    av_log_set_level(AV_LOG_QUIET);

    struct input in;
    open_source(input, mode, &in);
    AVIOContext *ipb;
    AVFormatContext *ifmt = open_input(&in, &ipb);

    int vi = -1;
    for (unsigned i = 0; i < ifmt->nb_streams; i++)
        if (ifmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
            vi = (int)i;
            break;
        }
    if (vi < 0 || ifmt->streams[vi]->codecpar->codec_id != AV_CODEC_ID_H264) {
        fprintf(stderr, "extract_h264_c: the input has no H.264 video\n");
        return 1;
    }
    AVRational in_tb = ifmt->streams[vi]->time_base;
    if (discard)
        discard_all_but(ifmt, vi);

    int fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", output, strerror(errno));
        return 1;
    }
    AVFormatContext *ofmt = NULL;
    int ret = avformat_alloc_output_context2(&ofmt, NULL, "h264", NULL);
    if (ret < 0)
        die("avformat_alloc_output_context2", ret);
    uint8_t *obuf = av_malloc(WRITE_BUFFER_SIZE);
    AVIOContext *opb = obuf ? avio_alloc_context(obuf, WRITE_BUFFER_SIZE, 1, &fd, NULL, fd_write, NULL) : NULL;
    if (!opb)
        die("avio_alloc_context", AVERROR(ENOMEM));
    opb->min_packet_size = WRITE_BUFFER_SIZE;
    ofmt->pb = opb;

    AVStream *ost = avformat_new_stream(ofmt, NULL);
    if (!ost)
        die("avformat_new_stream", AVERROR(ENOMEM));
    ret = avcodec_parameters_copy(ost->codecpar, ifmt->streams[vi]->codecpar);
    if (ret < 0)
        die("avcodec_parameters_copy", ret);
    ost->codecpar->codec_tag = 0;
    ost->time_base = in_tb;
    ret = avformat_write_header(ofmt, NULL);
    if (ret < 0)
        die("avformat_write_header", ret);

    AVPacket *pkt = av_packet_alloc();
    if (!pkt)
        die("av_packet_alloc", AVERROR(ENOMEM));
    uint64_t packets = 0;
    while ((ret = av_read_frame(ifmt, pkt)) >= 0) {
        if (pkt->stream_index != vi) {
            av_packet_unref(pkt);
            continue;
        }
        pkt->stream_index = 0;
        av_packet_rescale_ts(pkt, in_tb, ost->time_base);
        pkt->pos = -1;
        ret = av_interleaved_write_frame(ofmt, pkt); /* takes the reference */
        if (ret < 0)
            die("av_interleaved_write_frame", ret);
        packets++;
    }
    if (ret != AVERROR_EOF)
        die("av_read_frame", ret);
    ret = av_write_trailer(ofmt);
    if (ret < 0)
        die("av_write_trailer", ret);
    avio_flush(opb);
    if (opb->error < 0)
        die("write", opb->error);
    int64_t bytes = avio_tell(opb);
    if (close(fd) < 0) {
        fprintf(stderr, "%s: %s\n", output, strerror(errno));
        return 1;
    }
    fprintf(stderr, "extract_h264_c: %llu packets, %lld bytes of H.264 from %s to %s\n",
            (unsigned long long)packets, (long long)bytes, input, output);

    av_packet_free(&pkt);
    avformat_free_context(ofmt);
    av_freep(&opb->buffer);
    avio_context_free(&opb);
    close_input(ifmt, ipb, &in);
    return 0;
}

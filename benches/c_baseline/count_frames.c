/*
 * C baseline for `count_frames FILE`: map FILE into memory (--map) or load it, demux it
 * through read and seek callbacks (64 KiB AVIO buffer), count the packets of every stream
 * reusing one AVPacket, print `There are N frames in total.` for the first video stream.
 *
 * usage: count_frames_c [--stream | --map] [--discard] FILE
 *   --map      map FILE with av_file_map instead of loading it with read(2): the C
 *              counterpart of `count_frames FILE` (and what the original C program did)
 *   --stream   read FILE through read(2)/lseek(2) callbacks instead of loading it
 *              (the C counterpart of `count_frames --stream`)
 *   --discard  skip every stream but the first video stream (AVDISCARD_ALL), as
 *              `ffprobe -select_streams v:0` does; only that stream is counted (not
 *              used by scripts/bench.sh: count_frames counts every stream)
 */
#include "common.h"

int main(int argc, char **argv)
{
    int mode, discard;
    int first = parse_flags(argc, argv, &mode, &discard);
    if (argc - first != 1) {
        fprintf(stderr, "usage: %s [--stream | --map] [--discard] FILE\n", argv[0]);
        return 1;
    }
    av_log_set_level(AV_LOG_QUIET); /* ffio's example does the same */

    struct input in;
    open_source(argv[first], mode, &in);
    AVIOContext *pb;
    AVFormatContext *fmt = open_input(&in, &pb);

    int video = -1;
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
            video = (int)i;
            break;
        }
    if (discard)
        discard_all_but(fmt, video);

    unsigned nb = fmt->nb_streams;
    uint64_t *packets = calloc(nb ? nb : 1, sizeof *packets);
    AVPacket *pkt = av_packet_alloc();
    if (!packets || !pkt)
        die("alloc", AVERROR(ENOMEM));
    int ret;
    while ((ret = av_read_frame(fmt, pkt)) >= 0) {
        unsigned i = (unsigned)pkt->stream_index;
        if (i >= nb) { /* a stream that appeared while reading */
            uint64_t *grown = realloc(packets, (i + 1) * sizeof *packets);
            if (!grown)
                die("alloc", AVERROR(ENOMEM));
            memset(grown + nb, 0, (i + 1 - nb) * sizeof *packets);
            packets = grown;
            nb = i + 1;
        }
        packets[i]++;
        av_packet_unref(pkt);
    }
    if (ret != AVERROR_EOF)
        die("av_read_frame", ret);

    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        printf("stream %u: %s %s, %llu packets\n", i,
               av_get_media_type_string(st->codecpar->codec_type),
               avcodec_get_name(st->codecpar->codec_id),
               (unsigned long long)(i < nb ? packets[i] : 0));
    }
    if (video < 0) {
        fprintf(stderr, "count_frames_c: the input has no video stream\n");
        return 1;
    }
    printf("There are %llu frames in total.\n", (unsigned long long)packets[video]);

    av_packet_free(&pkt);
    free(packets);
    close_input(fmt, pb, &in);
    return 0;
}

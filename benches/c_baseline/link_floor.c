/*
 * The memory floor of any program using the system FFmpeg: an empty main linked (with
 * --no-as-needed, so the libraries really are loaded) against libavformat, libavcodec and
 * libavutil. scripts/bench.sh reports its peak RSS.
 */
int main(void)
{
    return 0;
}

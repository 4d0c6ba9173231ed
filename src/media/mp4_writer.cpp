// MP4 through libavformat/libavcodec: H.264 (libx264), yuv420p converted from RGB24 by
// libswscale with BT.709 limited-range coefficients, tagged BT.709 so players do not guess
// (they assume BT.601 for SD sizes otherwise), faststart for streaming, metadata as tags.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include <cstring>

#include "core/error.h"
#include "media/writers.h"

namespace kinema::media {
namespace {

std::string av_message(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof(text));
  return text;
}

void check_av(int code, const char* what) {
  if (code < 0) fail(what, ": ", av_message(code));
}

// x264's frame threads make its decisions depend on when the frames arrive (measured: the same
// frames, fed as the VAE decodes them, gave different bytes at --threads 1 and 2 with 4 encoder
// threads), so it runs on one thread: the same frames give the same bytes on any machine (its
// assembly is bit-exact with its C code). Encoding is seconds against the minutes of a generation.
constexpr int kX264Threads = 1;

// One MP4 encode: owns every libav object, released in reverse order whatever happens.
class Mp4Encoder : public FrameEncoder {
 public:
  Mp4Encoder(const std::string& path, const StreamFormat& f, const MediaMetadata& metadata);
  ~Mp4Encoder() override {
    sws_freeContext(sws_);
    av_packet_free(&packet_);
    av_frame_free(&rgb_);
    av_frame_free(&frame_);
    avcodec_free_context(&codec_);
    if (format_ && file_open_) avio_closep(&format_->pb);
    avformat_free_context(format_);
  }
  void add(const uint8_t* rgb) override;
  void finish() override;

 private:
  // Sends `input` (nullptr flushes) and writes every packet the encoder has ready.
  void encode(const AVFrame* input);

  StreamFormat f_;
  AVFormatContext* format_ = nullptr;
  AVCodecContext* codec_ = nullptr;
  AVStream* stream_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVFrame* rgb_ = nullptr;  // the source frame, padded as libswscale expects
  AVPacket* packet_ = nullptr;
  SwsContext* sws_ = nullptr;
  bool file_open_ = false;
  int64_t next_pts_ = 0;
};

Mp4Encoder::Mp4Encoder(const std::string& path, const StreamFormat& f,
                       const MediaMetadata& metadata)
    : f_(f) {
  // 4:2:0 chroma halves both dimensions, so libx264 requires them even.
  if (f.width % 2 != 0 || f.height % 2 != 0)
    fail("H.264 yuv420p needs even frame sizes, got ", f.width, "x", f.height);

  // libav logs per-encoder chatter (x264's settings line) to stderr at the default level; the
  // CLI reports failures itself through the Error. The level is process-wide in libav.
  av_log_set_level(AV_LOG_ERROR);
  check_av(avformat_alloc_output_context2(&format_, nullptr, "mp4", path.c_str()),
           "creating the MP4 muxer");
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (!codec) fail("this libavcodec has no libx264 encoder");
  stream_ = avformat_new_stream(format_, nullptr);
  codec_ = avcodec_alloc_context3(codec);
  if (!stream_ || !codec_) fail("out of memory setting up the encoder");

  AVCodecContext* c = codec_;
  c->width = f.width;
  c->height = f.height;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->time_base = AVRational{1, f.fps};
  c->framerate = AVRational{f.fps, 1};
  c->gop_size = 2 * f.fps;
  c->color_primaries = AVCOL_PRI_BT709;
  c->color_trc = AVCOL_TRC_BT709;
  c->colorspace = AVCOL_SPC_BT709;
  c->color_range = AVCOL_RANGE_MPEG;
  if (format_->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  // Nothing that varies between runs or machines goes into the bitstream.
  c->flags |= AV_CODEC_FLAG_BITEXACT;
  format_->flags |= AVFMT_FLAG_BITEXACT;
  // crf 18 is visually lossless for most content; "medium" is the x264 default trade-off.
  av_opt_set(c->priv_data, "preset", "medium", 0);
  av_opt_set(c->priv_data, "crf", "18", 0);
  // No B-frames: with them, x264's macroblock-tree rate control reads memory it never wrote, so
  // the same frames gave different bytes depending on what the heap held before (measured with a
  // deliberately dirtied heap; tests/media checks it). Disabling the tree instead doubles the
  // size; without B-frames, 81 frames of 832x480 are 16% larger and encode 1.8x faster, the demo's
  // clips 2% smaller.
  av_opt_set(c->priv_data, "x264-params", "bframes=0", 0);
  c->thread_count = kX264Threads;
  check_av(avcodec_open2(c, codec, nullptr), "opening the libx264 encoder");
  check_av(avcodec_parameters_from_context(stream_->codecpar, c), "copying codec parameters");
  stream_->time_base = c->time_base;
  stream_->avg_frame_rate = c->framerate;

  for (const auto& [key, value] : metadata)
    check_av(av_dict_set(&format_->metadata, key.c_str(), value.c_str(), 0), "setting a tag");

  check_av(avio_open(&format_->pb, path.c_str(), AVIO_FLAG_WRITE), "opening the file");
  file_open_ = true;
  AVDictionary* options = nullptr;
  // use_metadata_tags keeps arbitrary keys (prompt, seed, ...) that the mp4 muxer otherwise
  // drops; faststart moves the index to the front so the file plays while downloading.
  av_dict_set(&options, "movflags", "+faststart+use_metadata_tags", 0);
  const int header = avformat_write_header(format_, &options);
  av_dict_free(&options);
  check_av(header, "writing the MP4 header");

  frame_ = av_frame_alloc();
  packet_ = av_packet_alloc();
  if (!frame_ || !packet_) fail("out of memory allocating frames");
  frame_->format = c->pix_fmt;
  frame_->width = c->width;
  frame_->height = c->height;
  check_av(av_frame_get_buffer(frame_, 0), "allocating a frame");
  // libswscale's vector code reads past the end of a row (and of the last row); from a plain
  // buffer those bytes would be whatever follows it in memory, and they reached the output:
  // the same frames gave different bytes from run to run. A padded, zeroed frame fixes that.
  rgb_ = av_frame_alloc();
  if (!rgb_) fail("out of memory allocating frames");
  rgb_->format = AV_PIX_FMT_RGB24;
  rgb_->width = f.width;
  rgb_->height = f.height;
  check_av(av_frame_get_buffer(rgb_, 64), "allocating a frame");
  for (AVBufferRef* buf : rgb_->buf)
    if (buf) std::memset(buf->data, 0, buf->size);

  // BITEXACT: the same YUV from the same RGB whichever SIMD path libswscale takes.
  sws_ = sws_getContext(f.width, f.height, AV_PIX_FMT_RGB24, f.width, f.height, AV_PIX_FMT_YUV420P,
                        SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT, nullptr, nullptr, nullptr);
  if (!sws_) fail("cannot create the RGB to YUV converter");
  // Source RGB is full range; destination BT.709 limited (16..235) range.
  const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
  sws_setColorspaceDetails(sws_, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);
}

void Mp4Encoder::encode(const AVFrame* input) {
  check_av(avcodec_send_frame(codec_, input), "encoding a frame");
  while (true) {
    const int got = avcodec_receive_packet(codec_, packet_);
    if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return;
    check_av(got, "receiving an encoded packet");
    av_packet_rescale_ts(packet_, codec_->time_base, stream_->time_base);
    packet_->stream_index = stream_->index;
    check_av(av_interleaved_write_frame(format_, packet_), "writing a packet");
  }
}

void Mp4Encoder::add(const uint8_t* rgb) {
  check_av(av_frame_make_writable(frame_), "preparing a frame");
  // x264 copies its input in wide vector strides that read the rows' padding too: padding left
  // uninitialised made the output depend on what the heap held before (measured). Zeroed, the
  // same frames always give the same bytes.
  for (AVBufferRef* buf : frame_->buf)
    if (buf) std::memset(buf->data, 0, buf->size);
  for (int y = 0; y < f_.height; ++y)
    std::memcpy(rgb_->data[0] + size_t(y) * size_t(rgb_->linesize[0]), rgb + size_t(y) * f_.width * 3,
                size_t(f_.width) * 3);
  sws_scale(sws_, rgb_->data, rgb_->linesize, 0, f_.height, frame_->data, frame_->linesize);
  frame_->pts = next_pts_++;
  encode(frame_);
}

void Mp4Encoder::finish() {
  encode(nullptr);
  check_av(av_write_trailer(format_), "writing the MP4 index");
  // The faststart pass rewrote the file through avio; its close reports a failed last write.
  check_av(avio_closep(&format_->pb), "closing the file");
  file_open_ = false;
}

}  // namespace

std::unique_ptr<FrameEncoder> open_mp4(const std::string& path, const StreamFormat& format,
                                       const MediaMetadata& metadata) {
  return std::make_unique<Mp4Encoder>(path, format, metadata);
}

}  // namespace kinema::media

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

// Owns every libav object of one encode, released in reverse order whatever happens.
struct Encoder {
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;
  bool file_open = false;

  ~Encoder() {
    sws_freeContext(sws);
    av_packet_free(&packet);
    av_frame_free(&frame);
    avcodec_free_context(&codec);
    if (format && file_open) avio_closep(&format->pb);
    avformat_free_context(format);
  }

  // Sends `input` (nullptr flushes) and writes every packet the encoder has ready.
  void encode(const AVFrame* input, AVStream* stream) {
    check_av(avcodec_send_frame(codec, input), "encoding a frame");
    while (true) {
      const int got = avcodec_receive_packet(codec, packet);
      if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return;
      check_av(got, "receiving an encoded packet");
      av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      check_av(av_interleaved_write_frame(format, packet), "writing a packet");
    }
  }
};

}  // namespace

void write_mp4(const std::string& path, const RgbFrames& frames, int fps,
               const MediaMetadata& metadata) {
  // 4:2:0 chroma halves both dimensions, so libx264 requires them even.
  if (frames.width % 2 != 0 || frames.height % 2 != 0)
    fail("H.264 yuv420p needs even frame sizes, got ", frames.width, "x", frames.height);

  // libav logs per-encoder chatter (x264's settings line) to stderr at the default level; the
  // CLI reports failures itself through the Error. The level is process-wide in libav.
  av_log_set_level(AV_LOG_ERROR);
  Encoder enc;
  check_av(avformat_alloc_output_context2(&enc.format, nullptr, "mp4", path.c_str()),
           "creating the MP4 muxer");

  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (!codec) fail("this libavcodec has no libx264 encoder");
  AVStream* stream = avformat_new_stream(enc.format, nullptr);
  enc.codec = avcodec_alloc_context3(codec);
  if (!stream || !enc.codec) fail("out of memory setting up the encoder");

  AVCodecContext* c = enc.codec;
  c->width = frames.width;
  c->height = frames.height;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->time_base = AVRational{1, fps};
  c->framerate = AVRational{fps, 1};
  c->gop_size = 2 * fps;
  c->color_primaries = AVCOL_PRI_BT709;
  c->color_trc = AVCOL_TRC_BT709;
  c->colorspace = AVCOL_SPC_BT709;
  c->color_range = AVCOL_RANGE_MPEG;
  if (enc.format->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  // crf 18 is visually lossless for most content; "medium" is the x264 default trade-off.
  av_opt_set(c->priv_data, "preset", "medium", 0);
  av_opt_set(c->priv_data, "crf", "18", 0);
  check_av(avcodec_open2(c, codec, nullptr), "opening the libx264 encoder");
  check_av(avcodec_parameters_from_context(stream->codecpar, c), "copying codec parameters");
  stream->time_base = c->time_base;
  stream->avg_frame_rate = c->framerate;

  for (const auto& [key, value] : metadata)
    check_av(av_dict_set(&enc.format->metadata, key.c_str(), value.c_str(), 0), "setting a tag");

  check_av(avio_open(&enc.format->pb, path.c_str(), AVIO_FLAG_WRITE), "opening the file");
  enc.file_open = true;
  AVDictionary* options = nullptr;
  // use_metadata_tags keeps arbitrary keys (prompt, seed, ...) that the mp4 muxer otherwise
  // drops; faststart moves the index to the front so the file plays while downloading.
  av_dict_set(&options, "movflags", "+faststart+use_metadata_tags", 0);
  const int header = avformat_write_header(enc.format, &options);
  av_dict_free(&options);
  check_av(header, "writing the MP4 header");

  enc.frame = av_frame_alloc();
  enc.packet = av_packet_alloc();
  if (!enc.frame || !enc.packet) fail("out of memory allocating frames");
  enc.frame->format = c->pix_fmt;
  enc.frame->width = c->width;
  enc.frame->height = c->height;
  check_av(av_frame_get_buffer(enc.frame, 0), "allocating a frame");

  enc.sws =
      sws_getContext(frames.width, frames.height, AV_PIX_FMT_RGB24, frames.width, frames.height,
                     AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND, nullptr, nullptr, nullptr);
  if (!enc.sws) fail("cannot create the RGB to YUV converter");
  // Source RGB is full range; destination BT.709 limited (16..235) range.
  const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
  sws_setColorspaceDetails(enc.sws, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);

  const size_t frame_bytes = static_cast<size_t>(frames.width) * frames.height * 3;
  for (int i = 0; i < frames.count; ++i) {
    check_av(av_frame_make_writable(enc.frame), "preparing a frame");
    const uint8_t* src[1] = {frames.rgb.data() + i * frame_bytes};
    const int src_stride[1] = {frames.width * 3};
    sws_scale(enc.sws, src, src_stride, 0, frames.height, enc.frame->data, enc.frame->linesize);
    enc.frame->pts = i;
    enc.encode(enc.frame, stream);
  }
  enc.encode(nullptr, stream);
  check_av(av_write_trailer(enc.format), "writing the MP4 index");
  check_av(avio_closep(&enc.format->pb), "closing the file");
  enc.file_open = false;
}

}  // namespace kinema::media
